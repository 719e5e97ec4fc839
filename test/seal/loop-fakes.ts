/**
 * A fake SEAL domain and engine for the loop tests: no GPU, instant, deterministic. The engine's samples depend only
 * on (seed, stream), as the GPU's do; a candidate's "adapter" remembers its learning rate, and the domain calls a
 * context solved when the adapted model says "good" (learning rate >= 0.5). A recorder wraps an in-memory log and
 * can be "killed" after any number of records; an in-memory adapter store keeps saved weights.
 */
import { fmix32 } from '../../src/util/rng.ts';
import type { LoraHostWeights } from '../../src/lora/host-weights.ts';
import type { Domain, DomainContext, DomainScore, GeneratedSample, InnerTrainingPlan, ParsedSelfEdit, ScoringModel } from '../../src/seal/domain.ts';
import type { PolicyMode, PolicyTrainingJob, SampleOptions, SealEngine, TrainedCandidate, TrainingStep } from '../../src/seal/engine.ts';
import { runBehindBarrier } from '../../src/seal/generation-barrier.ts';
import type { RunEventInput } from '../../src/seal/events.ts';
import type { RunConfig } from '../../src/seal/run-config.ts';
import type { RunRecorder } from '../../src/seal/run-recorder.ts';
import { roundMetrics } from '../../src/seal/run-state.ts';
import { SftDivergedError } from '../../src/train/sft.ts';
import type { ChatMessage } from '../../src/text/chat-template.ts';
import { Killed, MemoryLog } from './helpers.ts';

export const CONTEXTS = ['t1', 't2', 't3'];

export interface FakeEdit {
  lr: number;
}

/** Contexts t1..t3; self-edits {"lr": x}; lr 0 is a skipped plan; lr > 0.9 is clamped; solved when lr >= 0.5. */
export class FakeDomain implements Domain<DomainContext, FakeEdit> {
  readonly name = 'fake';
  constructor(
    readonly ids: readonly string[] = CONTEXTS,
    readonly steps = 3,
  ) {}

  contexts(): readonly DomainContext[] {
    return this.ids.map((id) => ({ id }));
  }

  selfEditPrompt(context: DomainContext): ChatMessage[] {
    return [
      { role: 'system', content: 'fake' },
      { role: 'user', content: `self-edit for ${context.id}` },
    ];
  }

  selfEditSchema(): unknown {
    return { type: 'object', properties: { lr: { type: 'number' } }, required: ['lr'] };
  }

  parseSelfEdit(text: string): ParsedSelfEdit<FakeEdit> {
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch {
      return { ok: false, reason: 'not JSON' };
    }
    const lr = (v as { lr?: unknown })?.lr;
    if (typeof lr !== 'number') return { ok: false, reason: 'no lr' };
    if (lr > 0.9) return { ok: true, edit: { lr: 0.9 }, adjustments: [{ field: 'lr', from: lr, to: 0.9, reason: 'clamped' }] };
    return { ok: true, edit: { lr }, adjustments: [] };
  }

  trainingPlan(context: DomainContext, edit: FakeEdit): InnerTrainingPlan {
    const common = { lossMode: 'all' as const, lora: { rank: 2, alpha: 2, targets: ['q_proj'] }, loraInitSeed: 0, notes: [] };
    if (edit.lr === 0) return { ...common, skip: 'a learning rate of 0 trains nothing', rows: [], hyper: { lr: 0 }, plannedSteps: 0 };
    const notes = edit.lr > 0.8 ? ['a high learning rate'] : [];
    return {
      ...common,
      skip: null,
      rows: [{ kind: 'text', text: `${context.id} ${edit.lr}`, line: 1 }],
      hyper: { lr: edit.lr, maxSteps: this.steps },
      plannedSteps: this.steps,
      notes,
    };
  }

  async score(context: DomainContext, model: ScoringModel): Promise<DomainScore> {
    const [answer] = await model.generate([[{ role: 'user', content: context.id }]], { maxNewTokens: 4 });
    const solved = answer!.text === 'good';
    return { reward: solved ? 1 : 0, solved, tests: [{ id: `${context.id}-0`, correct: solved, prediction: answer!.text }] };
  }

  oracleSelfEdit(): string {
    return '{"lr": 0.7}';
  }
}

/** The text of a sample from (seed, stream): 3 in 10 not JSON, 1 in 10 lr 0 or 1.5 (clamped), else lr 0.1 .. 0.5. */
export function fakeSample(seed: number, stream: number): string {
  const v = fmix32(seed ^ fmix32(stream)) % 10;
  if (v < 3) return 'oops, not JSON';
  if (v === 3) return '{"lr": 0}';
  if (v === 9) return '{"lr": 1.5}';
  return `{"lr": ${(v - 3) / 10}}`;
}

class FakeCandidate implements TrainedCandidate {
  released = false;
  constructor(
    readonly lr: number,
    readonly steps: number,
  ) {}
  async download(): Promise<LoraHostWeights> {
    return fakeWeights(this.lr);
  }
}

export function fakeWeights(tag: number): LoraHostWeights {
  return { config: { targets: ['q_proj'], rank: 1, alpha: tag, rsLora: false, dropout: 0, scale: tag }, modules: [] };
}

/** What the fake engine was asked to do. */
export interface EngineLog {
  sampled: { prompt: string; seed: number; stream: number }[];
  trainCalls: number[][];
  scored: (number | null)[];
  /** Per generation batch while scoring: the lr of each prompt's candidate. */
  scoringBatches: (number | null)[][];
  policies: { tag: number | null; mode: PolicyMode }[];
  policyJobs: { rows: number; init: 'weights' | 'seed'; texts: string[] }[];
}

export function newEngineLog(): EngineLog {
  return { sampled: [], trainCalls: [], scored: [], scoringBatches: [], policies: [], policyJobs: [] };
}

export class FakeEngine implements SealEngine {
  policy: LoraHostWeights | null = null;
  /** Training a group that holds this learning rate throws SftDivergedError (as the real trainer does for a diverged job). */
  divergeAt: number | null = null;

  constructor(readonly log: EngineLog = newEngineLog()) {}

  async setPolicy(policy: LoraHostWeights | null, mode: PolicyMode): Promise<void> {
    this.policy = policy;
    this.log.policies.push({ tag: policy?.config.alpha ?? null, mode });
  }

  async sample(prompts: readonly (readonly ChatMessage[])[], options: SampleOptions): Promise<GeneratedSample[]> {
    // Sequences end in an order of their own (as in a batch), each reported as it ends.
    const out = prompts.map((p, i) => {
      const stream = options.streams![i]!;
      this.log.sampled.push({ prompt: p[p.length - 1]!.content, seed: options.seed!, stream });
      return { text: fakeSample(options.seed!, stream), tokens: 5, finishReason: 'stop' as const };
    });
    const order = out.map((_, i) => i).sort((a, b) => (options.streams![a]! % 7) - (options.streams![b]! % 7) || a - b);
    for (const i of order) options.onSample?.(i, out[i]!);
    return out;
  }

  async trainCandidates(plans: readonly InnerTrainingPlan[], onStep: (step: TrainingStep) => void | Promise<void>): Promise<TrainedCandidate[]> {
    this.log.trainCalls.push(plans.map((p) => p.hyper.lr));
    const steps = Math.max(...plans.map((p) => p.plannedSteps));
    for (let step = 1; step <= steps; step++) {
      for (const [job, p] of plans.entries()) {
        if (step > p.plannedSteps) continue;
        if (p.hyper.lr === this.divergeAt && step === 2) throw new SftDivergedError(`SFT job ${job}: the loss is NaN at step 2`);
        await onStep({
          job,
          step,
          totalSteps: p.plannedSteps,
          loss: 1 / step + p.hyper.lr,
          lr: p.hyper.lr,
          tokens: 10,
          inputTokens: 12,
          epoch: step,
          gradNorm: 1,
        });
      }
    }
    return plans.map((p) => new FakeCandidate(p.hyper.lr, p.plannedSteps));
  }

  /** Scores through a GenerationBarrier, as the GPU engine does: each batch is logged with its candidates' lrs. */
  async withScoringModels<T>(candidates: readonly (TrainedCandidate | null)[], body: (model: ScoringModel, index: number) => Promise<T>): Promise<T[]> {
    const lrs = candidates.map((c) => {
      if (c !== null && (c as FakeCandidate).released) throw new Error('scored a released candidate');
      return c === null ? null : (c as FakeCandidate).lr;
    });
    this.log.scored.push(...lrs);
    return runBehindBarrier(
      candidates.length,
      async (batch) => {
        this.log.scoringBatches.push(batch.participants.map((p) => lrs[p]!));
        return batch.participants.map((p) => ({ text: lrs[p] !== null && lrs[p]! >= 0.5 ? 'good' : 'bad', tokens: 1, finishReason: 'stop' as const }));
      },
      (_, generate): ScoringModel => ({ contextLength: 512, countTokens: (m) => m.length, generate }),
      body,
    );
  }

  release(candidates: readonly TrainedCandidate[]): void {
    for (const c of candidates) (c as FakeCandidate).released = true;
  }

  async trainPolicy(job: PolicyTrainingJob, onStep: (step: TrainingStep) => void | Promise<void>): Promise<LoraHostWeights> {
    this.log.policyJobs.push({
      rows: job.rows.length,
      init: 'weights' in job.init ? 'weights' : 'seed',
      texts: job.rows.map((r) => (r.kind === 'messages' ? r.messages[r.messages.length - 1]!.content : '')),
    });
    const before = 'weights' in job.init ? job.init.weights.config.alpha : 0;
    if (job.rows.length === 0) return 'weights' in job.init ? job.init.weights : fakeWeights(0);
    for (let step = 1; step <= 2; step++)
      await onStep({ job: 0, step, totalSteps: 2, loss: 1 / step, lr: 1e-4, tokens: 20, inputTokens: 30, epoch: step, gradNorm: 1 });
    return fakeWeights(before + job.rows.length);
  }
}

/** An in-memory recorder over MemoryLog; `budget` records may be written, then every append throws Killed. */
export class FakeRecorder implements RunRecorder {
  budget = Infinity;
  reports = 0;
  constructor(readonly log: MemoryLog = new MemoryLog()) {}

  get state() {
    return this.log.state;
  }

  append(input: RunEventInput): unknown {
    if (this.budget <= 0) throw new Killed('killed');
    this.budget--;
    return this.log.append(input);
  }

  async finishRound(round: number): Promise<void> {
    this.append({ type: 'round-finished', round, metrics: roundMetrics(this.state.rounds.get(round)!) });
    this.reports++;
  }

  async prepareAdapterDir(round: number, task: string, candidate: number): Promise<string> {
    return `adapters/round-${round}/${task}/candidate-${candidate}`;
  }

  async preparePolicyDir(round: number): Promise<string> {
    return `policy/round-${round}`;
  }
}

/** The in-memory adapter store of src/seal (the loop's tests keep their old name for it). */
export { MemoryAdapterStore as MemoryStore } from '../../src/seal/memory-run.ts';

/** Seed 21: both rounds have an invalid sample resampled, a slot with no valid sample, an lr of 0, a clamp, winners. */
export function fakeConfig(overrides: Partial<RunConfig> = {}): RunConfig {
  return {
    domain: 'fake',
    command: 'train',
    model: { fingerprint: 'sha256:0000000000000000000000000000000000000000000000000000000000000000', method: 'quick-v1' },
    tasks: { ids: [...CONTEXTS] },
    selfEditsPerTask: 3,
    rounds: 2,
    seed: 21,
    settings: {},
    ...overrides,
  };
}
