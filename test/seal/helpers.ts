/**
 * Helpers of the run-bookkeeping tests: a run config, an in-memory event writer, a fake SEAL loop that follows the
 * resume protocol the real loop must follow (skip finished candidates, reuse a recorded self-edit, redo the rest) and
 * can be "killed" after any number of records, and a small XML well-formedness check for the report's SVG.
 */
import type { RunEventInput } from '../../src/seal/events.ts';
import { MemoryRun } from '../../src/seal/memory-run.ts';
import type { RunConfig } from '../../src/seal/run-config.ts';
import { nextRound, pendingCandidates, policyForRound, roundMetrics, type RunState } from '../../src/seal/run-state.ts';

export const TASKS = ['6150a2bd', '8d5021e8', '5614dbcf', '44f52bb0'];

export function testConfig(overrides: Partial<RunConfig> = {}): RunConfig {
  return {
    domain: 'arc',
    command: 'train',
    model: {
      fingerprint: 'sha256:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff',
      method: 'quick-v1',
      source: { path: '/models/Llama-3.2-1B-Instruct' },
    },
    tasks: { ids: [...TASKS], source: 'tasks.json' },
    selfEditsPerTask: 3,
    rounds: 2,
    seed: 7,
    settings: { ttt: { batchSize: 2, lora: { rank: 128, alpha: 16 } }, data: { maxExamples: 250 } },
    ...overrides,
  };
}

/** Anything that records events and keeps the folded state (an in-memory log or a RunDir). */
export interface EventSink {
  readonly state: RunState;
  append(input: RunEventInput): unknown;
}

/** An in-memory log (src/seal/memory-run.ts) on a fixed clock: one second per record from 2026-01-01. */
export class MemoryLog extends MemoryRun implements EventSink {
  constructor() {
    let clock = Date.UTC(2026, 0, 1);
    super({
      now: () => {
        clock += 1000;
        return new Date(clock);
      },
    });
  }
}

/** Thrown by the fake loop when its record budget runs out: a kill between two records. */
export class Killed extends Error {}

/** A deterministic reward: whether candidate k of `task` in `round` solves it (later rounds solve more). */
export function solves(round: number, task: string, k: number): boolean {
  let h = round * 31 + k * 7;
  for (const ch of task) h = (h * 33 + ch.charCodeAt(0)) >>> 0;
  return h % 10 < 3 + 4 * round;
}

export interface LoopStats {
  sampled: string[];
  trained: string[];
}

/**
 * A fake SEAL loop over a sink. It writes at most `budget` records, then throws Killed (the records written stand,
 * as after a kill). It resumes from the sink's state exactly as the real loop must. `stats` counts the work done.
 */
export function runFakeLoop(sink: EventSink, options: { budget?: number; stepsPerCandidate?: number; stats?: LoopStats; invalidEvery?: number } = {}): void {
  let budget = options.budget ?? Infinity;
  const emit = (input: RunEventInput) => {
    if (budget-- <= 0) throw new Killed('killed');
    sink.append(input);
  };
  const config = sink.state.config!;
  const steps = options.stepsPerCandidate ?? 4;
  for (let round = nextRound(sink.state); round !== null; round = nextRound(sink.state)) {
    const plan = { tasks: config.tasks.ids, candidatesPerTask: config.selfEditsPerTask };
    if (!sink.state.rounds.has(round)) emit({ type: 'round-started', round, policy: policyForRound(sink.state, round), ...plan });
    for (const slot of pendingCandidates(sink.state, round)) {
      const key = `${round}/${slot.task}/${slot.candidate}`;
      if (slot.edit === null) {
        options.stats?.sampled.push(key);
        const attempt = slot.samples.length;
        const invalid = options.invalidEvery !== undefined && (slot.candidate + round) % options.invalidEvery === 0 && attempt === 0;
        if (invalid) {
          emit({
            type: 'self-edit-sampled',
            round,
            task: slot.task,
            candidate: slot.candidate,
            attempt,
            text: '{"training": oops',
            edit: null,
            invalid: 'not valid JSON',
          });
        }
        emit({
          type: 'self-edit-sampled',
          round,
          task: slot.task,
          candidate: slot.candidate,
          attempt: attempt + (invalid ? 1 : 0),
          text: `{"training":{"learning_rate":${(slot.candidate + 1) * 1e-4}}}`,
          edit: { learningRate: (slot.candidate + 1) * 1e-4 },
          adjustments: slot.candidate === 2 ? [{ field: 'training.num_train_epochs', from: 500, to: 100, reason: 'clamped to 100' }] : [],
        });
      }
      options.stats?.trained.push(key);
      emit({ type: 'candidate-started', round, task: slot.task, candidate: slot.candidate, examples: 10, plannedSteps: steps });
      for (let step = 1; step <= steps; step++) {
        emit({ type: 'ttt-step', round, task: slot.task, candidate: slot.candidate, step, loss: 2 / step + slot.candidate * 0.1, lr: 1e-4, tokens: 100 });
      }
      const solved = solves(round, slot.task, slot.candidate);
      emit({
        type: 'candidate-scored',
        round,
        task: slot.task,
        candidate: slot.candidate,
        reward: solved ? 1 : 0,
        solved,
        tests: [{ id: `${slot.task}-0`, correct: solved, prediction: [[[1, 2]], [[3, 4]]] }],
        adapter: `adapters/round-${round}/${slot.task}/candidate-${slot.candidate}`,
      });
    }
    const r = sink.state.rounds.get(round)!;
    if (config.command === 'train' && r.checkpoint === null) {
      const examples = roundMetrics(r).successes;
      emit({ type: 'policy-sft-started', round, examples, plannedSteps: 3 });
      for (let step = 1; step <= 3; step++) emit({ type: 'policy-sft-step', round, step, loss: 1 / step, lr: 5e-5, tokens: 50 });
      emit({ type: 'policy-checkpoint-saved', round, path: `policy/round-${round}`, examples });
    }
    emit({ type: 'round-finished', round, metrics: roundMetrics(r) });
  }
  emit({ type: 'run-finished' });
}

/**
 * Checks that `xml` is well-formed: balanced tags, quoted attributes, valid entities, no stray '<' or '&'.
 * Returns null, or what is wrong and where.
 */
export function xmlProblem(xml: string): string | null {
  const stack: string[] = [];
  const entity = /^&(amp|lt|gt|quot|apos|#[0-9]+|#x[0-9a-fA-F]+);/;
  let i = 0;
  while (i < xml.length) {
    const ch = xml[i]!;
    if (ch === '&') {
      if (!entity.test(xml.slice(i, i + 12))) return `bad entity at ${i}: ${xml.slice(i, i + 20)}`;
      i++;
      continue;
    }
    if (ch !== '<') {
      if (ch === '>') return `stray '>' at ${i}`;
      i++;
      continue;
    }
    const end = xml.indexOf('>', i);
    if (end < 0) return `unclosed tag at ${i}`;
    const tag = xml.slice(i + 1, end);
    if (tag.startsWith('/')) {
      const name = tag.slice(1).trim();
      const open = stack.pop();
      if (open !== name) return `</${name}> closes <${open ?? 'nothing'}> at ${i}`;
    } else {
      const selfClosing = tag.endsWith('/');
      const body = selfClosing ? tag.slice(0, -1) : tag;
      const m = /^([A-Za-z][\w:-]*)((?:\s+[A-Za-z_:][\w:.-]*="[^"<]*")*)\s*$/.exec(body);
      if (!m) return `malformed tag at ${i}: <${tag.slice(0, 60)}>`;
      for (const value of m[2]!.matchAll(/="([^"]*)"/g)) {
        const v = value[1]!;
        for (let j = v.indexOf('&'); j >= 0; j = v.indexOf('&', j + 1)) if (!entity.test(v.slice(j, j + 12))) return `bad entity in an attribute at ${i}`;
      }
      if (!selfClosing) stack.push(m[1]!);
    }
    i = end + 1;
  }
  return stack.length === 0 ? null : `unclosed <${stack.join('>, <')}>`;
}

/** Every <svg>…</svg> element of an HTML page. */
export function svgElements(html: string): string[] {
  return [...html.matchAll(/<svg[\s>][\s\S]*?<\/svg>/g)].map((m) => m[0]);
}
