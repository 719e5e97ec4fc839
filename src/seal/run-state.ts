/**
 * The state of a run, folded from its event log: the single source of truth for resuming and for the report.
 *
 * The rules resuming relies on:
 *   - a candidate (round, task, k) is finished exactly when its 'candidate-scored' record exists; its score is
 *     never replaced (a second score of a finished candidate is ignored with a warning), so finished work is never
 *     redone or lost;
 *   - anything else recorded for an unfinished candidate (a sampled self-edit, TTT steps) is partial: the loop
 *     redoes the candidate; it may reuse the recorded valid self-edit (pendingCandidates returns it), and TTT steps
 *     logged before the candidate's latest 'candidate-started' are dropped as an abandoned try;
 *   - the policy's M-step of a round counts only once 'policy-checkpoint-saved' is recorded (SFT steps before the
 *     latest 'policy-sft-started' are dropped likewise); a round is finished once 'round-finished' is recorded;
 *   - the policy for round r is the checkpoint saved by round r - 1 (round 0: the base model).
 * The fold itself never throws on well-formed records: anything out of order becomes a warning in the state.
 */
import type { BaselineScoredEvent, EditAdjustment, EventOf, Invocation, PolicyRef, RoundMetrics, RunEvent, TestOutcome } from './events.ts';
import type { JsonValue } from './json.ts';
import type { RunConfig } from './run-config.ts';

export interface SampledEdit {
  attempt: number;
  text: string;
  /** The parsed self-edit, or null when invalid. */
  edit: unknown;
  invalid: string | null;
  adjustments: EditAdjustment[];
}

export interface LossPoint {
  step: number;
  loss: number | null;
  lr: number;
  tokens: number;
}

export interface CandidateScore {
  reward: number;
  solved: boolean;
  tests: TestOutcome[];
  skipped: string | null;
  adapter: string | null;
  seconds: { ttt?: number; eval?: number } | null;
  /** Log line of the score record. */
  seq: number;
}

export interface CandidateState {
  round: number;
  task: string;
  candidate: number;
  /** Every sample drawn for this slot, invalid ones included, in order. */
  samples: SampledEdit[];
  /** How many times its inner loop was started (more than 1: redone after an interruption). */
  starts: number;
  /** TTT losses of the latest try. */
  ttt: LossPoint[];
  /** The training plan of the latest try ('candidate-started'), null when never started. */
  plan: CandidatePlan | null;
  score: CandidateScore | null;
}

export interface CandidatePlan {
  examples: number | null;
  plannedSteps: number | null;
  notes: string[];
  /** Why training leaves the model as it is although the candidate runs (see CandidateStartedEvent.untrained). */
  untrained: string | null;
}

export interface RoundState {
  round: number;
  policy: PolicyRef;
  tasks: string[];
  candidatesPerTask: number;
  /** 'round-started' records for this round (more than 1: resumed). */
  starts: number;
  /** By candidateKey(task, k). */
  candidates: Map<string, CandidateState>;
  /** The M-step: null when never started. */
  sft: { starts: number; examples: number; steps: LossPoint[] } | null;
  checkpoint: { path: string; fingerprint: string | null; examples: number } | null;
  finished: boolean;
}

export type BaselineScore = Omit<BaselineScoredEvent, 'type'>;

export type RunStatus = 'empty' | 'running' | 'finished' | 'failed' | 'interrupted';

export interface RunState {
  config: RunConfig | null;
  configHash: string | null;
  /** 'config-changed' records (forced resumes with another configuration). */
  configChanges: { seq: number; previousHash: string; configHash: string; changes: { path: string; from?: JsonValue; to?: JsonValue }[] }[];
  invocations: Invocation[];
  status: RunStatus;
  failure: string | null;
  /** 'run-resumed' records. */
  resumes: number;
  rounds: Map<number, RoundState>;
  /** By baselineKey(name, round, task). */
  baselines: Map<string, BaselineScore>;
  /** Out-of-order or repeated records, in log order. */
  warnings: string[];
  events: number;
  startedAt: string | null;
  lastAt: string | null;
  /** The slot most recently worked on (for progress lines). */
  active: {
    round: number;
    task: string | null;
    candidate: number | null;
    phase: 'sampling' | 'ttt' | 'scored' | 'sft' | 'idle';
    step: number;
    plannedSteps: number | null;
    loss: number | null;
  } | null;
}

export function candidateKey(task: string, candidate: number): string {
  return `${task}\u0000${candidate}`;
}

export function baselineKey(name: string, round: number | null, task: string): string {
  return `${name}\u0000${round ?? ''}\u0000${task}`;
}

export function emptyRunState(): RunState {
  return {
    config: null,
    configHash: null,
    configChanges: [],
    invocations: [],
    status: 'empty',
    failure: null,
    resumes: 0,
    rounds: new Map(),
    baselines: new Map(),
    warnings: [],
    events: 0,
    startedAt: null,
    lastAt: null,
    active: null,
  };
}

/** Folds a whole log. */
export function foldEvents(events: readonly RunEvent[]): RunState {
  const state = emptyRunState();
  for (const e of events) applyEvent(state, e);
  return state;
}

function roundOf(state: RunState, round: number, seq: number): RoundState {
  let r = state.rounds.get(round);
  if (!r) {
    state.warnings.push(`line ${seq}: round ${round} has records before its 'round-started'`);
    r = newRound(round, { kind: 'base' }, [], 0);
    state.rounds.set(round, r);
  }
  return r;
}

function newRound(round: number, policy: PolicyRef, tasks: string[], candidatesPerTask: number): RoundState {
  return { round, policy, tasks, candidatesPerTask, starts: 0, candidates: new Map(), sft: null, checkpoint: null, finished: false };
}

function candidateOf(r: RoundState, task: string, candidate: number): CandidateState {
  const key = candidateKey(task, candidate);
  let c = r.candidates.get(key);
  if (!c) {
    c = { round: r.round, task, candidate, samples: [], starts: 0, ttt: [], plan: null, score: null };
    r.candidates.set(key, c);
  }
  return c;
}

/** Applies one record to the state (in place). */
export function applyEvent(state: RunState, e: RunEvent): void {
  state.events++;
  state.lastAt = e.time;
  const where = (c: { round: number; task: string; candidate: number }) => `round ${c.round} task ${c.task} candidate ${c.candidate}`;
  switch (e.type) {
    case 'run-started':
      if (state.config !== null) state.warnings.push(`line ${e.seq}: a second 'run-started' (ignored)`);
      else {
        state.config = e.config;
        state.configHash = e.configHash;
        state.startedAt = e.time;
      }
      state.invocations.push(e.invocation);
      state.status = 'running';
      break;
    case 'run-resumed':
      state.resumes++;
      state.invocations.push(e.invocation);
      if (state.config !== null && state.config.rounds !== e.rounds) state.config = { ...state.config, rounds: e.rounds };
      if (state.configHash !== null && e.configHash !== state.configHash)
        state.warnings.push(`line ${e.seq}: resumed with config ${e.configHash} but the run has ${state.configHash}`);
      state.status = 'running';
      state.failure = null;
      break;
    case 'config-changed':
      state.configChanges.push({ seq: e.seq, previousHash: e.previousHash, configHash: e.configHash, changes: e.changes });
      state.config = e.config;
      state.configHash = e.configHash;
      break;
    case 'round-started': {
      const existing = state.rounds.get(e.round);
      const r = existing ?? newRound(e.round, e.policy, [...e.tasks], e.candidatesPerTask);
      if (existing) {
        // A resumed round keeps what it had; the plan (tasks, K) is the latest one.
        r.policy = e.policy;
        r.tasks = [...e.tasks];
        r.candidatesPerTask = e.candidatesPerTask;
      }
      r.starts++;
      state.rounds.set(e.round, r);
      state.active = { round: e.round, task: null, candidate: null, phase: 'idle', step: 0, plannedSteps: null, loss: null };
      break;
    }
    case 'self-edit-sampled': {
      const c = candidateOf(roundOf(state, e.round, e.seq), e.task, e.candidate);
      if (c.score !== null) {
        state.warnings.push(`line ${e.seq}: self-edit for the finished ${where(e)} ignored`);
        break;
      }
      c.samples.push({ attempt: e.attempt, text: e.text, edit: e.edit, invalid: e.invalid ?? null, adjustments: e.adjustments ?? [] });
      state.active = { round: e.round, task: e.task, candidate: e.candidate, phase: 'sampling', step: 0, plannedSteps: null, loss: null };
      break;
    }
    case 'candidate-started': {
      const c = candidateOf(roundOf(state, e.round, e.seq), e.task, e.candidate);
      if (c.score !== null) {
        state.warnings.push(`line ${e.seq}: the finished ${where(e)} was started again (ignored: finished candidates are never redone)`);
        break;
      }
      c.starts++;
      c.ttt = [];
      c.plan = { examples: e.examples ?? null, plannedSteps: e.plannedSteps ?? null, notes: e.notes ?? [], untrained: e.untrained ?? null };
      state.active = { round: e.round, task: e.task, candidate: e.candidate, phase: 'ttt', step: 0, plannedSteps: e.plannedSteps ?? null, loss: null };
      break;
    }
    case 'ttt-step': {
      const c = candidateOf(roundOf(state, e.round, e.seq), e.task, e.candidate);
      if (c.score !== null) {
        state.warnings.push(`line ${e.seq}: TTT step for the finished ${where(e)} ignored`);
        break;
      }
      c.ttt.push({ step: e.step, loss: e.loss, lr: e.lr, tokens: e.tokens });
      const a = state.active;
      const planned = a && a.task === e.task && a.candidate === e.candidate && a.round === e.round ? a.plannedSteps : null;
      state.active = { round: e.round, task: e.task, candidate: e.candidate, phase: 'ttt', step: e.step, plannedSteps: planned, loss: e.loss };
      break;
    }
    case 'candidate-scored': {
      const c = candidateOf(roundOf(state, e.round, e.seq), e.task, e.candidate);
      if (c.score !== null) {
        state.warnings.push(`line ${e.seq}: ${where(e)} was already scored on line ${c.score.seq}; the first score stands`);
        break;
      }
      c.score = scoreOf(e);
      state.active = { round: e.round, task: e.task, candidate: e.candidate, phase: 'scored', step: 0, plannedSteps: null, loss: null };
      break;
    }
    case 'baseline-scored': {
      const key = baselineKey(e.name, e.round, e.task);
      if (state.baselines.has(key)) state.warnings.push(`line ${e.seq}: baseline "${e.name}" for task ${e.task} was already scored; the first score stands`);
      else state.baselines.set(key, baselineOf(e));
      break;
    }
    case 'policy-sft-started': {
      const r = roundOf(state, e.round, e.seq);
      if (r.checkpoint !== null) {
        state.warnings.push(`line ${e.seq}: the M-step of round ${e.round} was started again after its checkpoint was saved (ignored)`);
        break;
      }
      r.sft = { starts: (r.sft?.starts ?? 0) + 1, examples: e.examples, steps: [] };
      state.active = { round: e.round, task: null, candidate: null, phase: 'sft', step: 0, plannedSteps: e.plannedSteps ?? null, loss: null };
      break;
    }
    case 'policy-sft-step': {
      const r = roundOf(state, e.round, e.seq);
      if (r.checkpoint !== null) break;
      if (r.sft === null) r.sft = { starts: 0, examples: 0, steps: [] };
      r.sft.steps.push({ step: e.step, loss: e.loss, lr: e.lr, tokens: e.tokens });
      const planned = state.active?.phase === 'sft' && state.active.round === e.round ? state.active.plannedSteps : null;
      state.active = { round: e.round, task: null, candidate: null, phase: 'sft', step: e.step, plannedSteps: planned, loss: e.loss };
      break;
    }
    case 'policy-checkpoint-saved': {
      const r = roundOf(state, e.round, e.seq);
      if (r.checkpoint !== null) state.warnings.push(`line ${e.seq}: round ${e.round} saved a second policy checkpoint; the first stands`);
      else r.checkpoint = { path: e.path, fingerprint: e.fingerprint ?? null, examples: e.examples };
      break;
    }
    case 'round-finished':
      roundOf(state, e.round, e.seq).finished = true;
      if (state.active?.round === e.round) state.active = { ...state.active, task: null, candidate: null, phase: 'idle' };
      break;
    case 'run-finished':
      state.status = 'finished';
      break;
    case 'run-failed':
      state.status = 'failed';
      state.failure = e.error;
      break;
    case 'interrupted':
      state.status = 'interrupted';
      break;
    case 'warning':
      state.warnings.push(e.message);
      break;
  }
}

function scoreOf(e: EventOf<'candidate-scored'>): CandidateScore {
  return { reward: e.reward, solved: e.solved, tests: e.tests, skipped: e.skipped ?? null, adapter: e.adapter ?? null, seconds: e.seconds ?? null, seq: e.seq };
}

function baselineOf(e: BaselineScoredEvent): BaselineScore {
  return { name: e.name, round: e.round, task: e.task, reward: e.reward, solved: e.solved, tests: e.tests };
}

/** The valid self-edit a candidate trains on: its last valid sample (null when none is valid yet). */
export function chosenEdit(c: CandidateState): SampledEdit | null {
  for (let i = c.samples.length - 1; i >= 0; i--) if (c.samples[i]!.invalid === null) return c.samples[i]!;
  return null;
}

export function isCandidateFinished(state: RunState, round: number, task: string, candidate: number): boolean {
  return state.rounds.get(round)?.candidates.get(candidateKey(task, candidate))?.score != null;
}

export function isBaselineFinished(state: RunState, name: string, round: number | null, task: string): boolean {
  return state.baselines.has(baselineKey(name, round, task));
}

/** A candidate slot still to do, with what an interrupted try left. */
export interface PendingCandidate {
  task: string;
  candidate: number;
  /** Recorded samples (the loop may reuse the valid one instead of sampling again). */
  samples: SampledEdit[];
  edit: SampledEdit | null;
  /** Its training was started before and not finished (a slot whose self-edit was only sampled is not). */
  interrupted: boolean;
}

/**
 * The slots of `round` without a score, task-major (in the round's task order), with anything an interrupted try
 * recorded. `plan` overrides the round's recorded tasks and K (needed before 'round-started' is written).
 */
export function pendingCandidates(state: RunState, round: number, plan?: { tasks: readonly string[]; candidatesPerTask: number }): PendingCandidate[] {
  const r = state.rounds.get(round);
  const tasks = plan?.tasks ?? r?.tasks ?? [];
  const k = plan?.candidatesPerTask ?? r?.candidatesPerTask ?? 0;
  const out: PendingCandidate[] = [];
  for (const task of tasks) {
    for (let candidate = 0; candidate < k; candidate++) {
      const c = r?.candidates.get(candidateKey(task, candidate));
      if (c?.score != null) continue;
      out.push({
        task,
        candidate,
        samples: c?.samples ?? [],
        edit: c ? chosenEdit(c) : null,
        interrupted: c !== undefined && c.starts > 0,
      });
    }
  }
  return out;
}

/** The first round (below config.rounds) not finished; null when every round is (or there is no config). */
export function nextRound(state: RunState): number | null {
  if (state.config === null) return null;
  for (let round = 0; round < state.config.rounds; round++) if (!state.rounds.get(round)?.finished) return round;
  return null;
}

/**
 * The policy that samples round `round`'s self-edits: the base model for round 0, else the checkpoint saved by
 * round - 1. Throws when that checkpoint is not recorded (round - 1's M-step is unfinished).
 */
export function policyForRound(state: RunState, round: number): PolicyRef {
  if (round === 0) return { kind: 'base' };
  const previous = state.rounds.get(round - 1)?.checkpoint;
  if (!previous)
    throw new Error(`round ${round} needs the policy checkpoint of round ${round - 1}, which is not recorded: finish round ${round - 1}'s M-step first`);
  return { kind: 'checkpoint', round: round - 1, path: previous.path, ...(previous.fingerprint ? { fingerprint: previous.fingerprint } : {}) };
}

/** The latest policy: the newest saved checkpoint, else the base model. */
export function currentPolicy(state: RunState): PolicyRef {
  const saved = [...state.rounds.values()].filter((r) => r.checkpoint !== null).sort((a, b) => b.round - a.round)[0];
  return saved
    ? {
        kind: 'checkpoint',
        round: saved.round,
        path: saved.checkpoint!.path,
        ...(saved.checkpoint!.fingerprint ? { fingerprint: saved.checkpoint!.fingerprint } : {}),
      }
    : { kind: 'base' };
}

/** A round's scored candidates in plan order (tasks as planned, then any extra tasks in record order). */
export function scoredCandidates(r: RoundState): CandidateState[] {
  const order = new Map(r.tasks.map((t, i) => [t, i]));
  return [...r.candidates.values()]
    .filter((c) => c.score !== null)
    .sort(
      (a, b) =>
        (order.get(a.task) ?? Infinity) - (order.get(b.task) ?? Infinity) || (a.task < b.task ? -1 : a.task > b.task ? 1 : 0) || a.candidate - b.candidate,
    );
}

/** The paper's metrics of a round, over its scored (task, self-edit) pairs. */
export function roundMetrics(r: RoundState): RoundMetrics {
  const scored = scoredCandidates(r);
  const successes = scored.filter((c) => c.score!.solved).length;
  const rewardSum = scored.reduce((s, c) => s + c.score!.reward, 0);
  return {
    round: r.round,
    tasks: r.tasks.length,
    candidatesPerTask: r.candidatesPerTask,
    pairs: scored.length,
    successes,
    successRate: scored.length > 0 ? successes / scored.length : null,
    meanReward: scored.length > 0 ? rewardSum / scored.length : null,
    tasksSolved: new Set(scored.filter((c) => c.score!.solved).map((c) => c.task)).size,
    skipped: scored.filter((c) => zeroStepReason(c) !== null).length,
  };
}

/**
 * Why a scored candidate trained 0 steps, or left the model as it was (null: it trained): the loop's skip reason
 * (invalid self-edit, empty dataset, over the step budget with 'skip'), the reason its training was a no-op (e.g.
 * every step's learning rate 0), or its plan's notes when it planned 0 steps (over the step budget: 0 epochs).
 */
export function zeroStepReason(c: CandidateState): string | null {
  if (c.score === null) return null;
  if (c.score.skipped !== null) return c.score.skipped;
  if (c.plan?.untrained) return c.plan.untrained;
  if (c.plan?.plannedSteps === 0) return c.plan.notes.length > 0 ? c.plan.notes.join('; ') : '0 optimizer steps planned';
  return null;
}

/**
 * How many scored candidates of the run trained 0 steps, and why, grouped by the reason's kind (the text before its
 * first ':'), e.g. "8 of 12 candidates trained 0 steps: 6 over the step budget (375), 2 empty TTT dataset"; null when
 * none did.
 */
export function zeroStepLine(state: RunState): string | null {
  let scored = 0;
  const kinds = new Map<string, number>();
  for (const r of roundsInOrder(state)) {
    for (const c of scoredCandidates(r)) {
      scored++;
      const why = zeroStepReason(c);
      if (why === null) continue;
      const colon = why.indexOf(':');
      const kind = colon > 0 ? why.slice(0, colon) : why;
      kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
    }
  }
  const n = [...kinds.values()].reduce((a, b) => a + b, 0);
  if (n === 0) return null;
  const groups = [...kinds].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([kind, count]) => `${count} ${kind}`);
  return `${n} of ${scored} candidates trained 0 steps: ${groups.join(', ')}`;
}

/** Per task of a round: its rewards and how many of its candidates solved it. */
export function taskOutcomes(r: RoundState): { task: string; rewards: number[]; solved: number; pairs: number }[] {
  const byTask = new Map<string, { task: string; rewards: number[]; solved: number; pairs: number }>();
  for (const task of r.tasks) byTask.set(task, { task, rewards: [], solved: 0, pairs: 0 });
  for (const c of scoredCandidates(r)) {
    let row = byTask.get(c.task);
    if (!row) {
      row = { task: c.task, rewards: [], solved: 0, pairs: 0 };
      byTask.set(c.task, row);
    }
    row.rewards.push(c.score!.reward);
    row.pairs++;
    if (c.score!.solved) row.solved++;
  }
  return [...byTask.values()];
}

export interface BaselineMetrics {
  name: string;
  round: number | null;
  tasks: number;
  solved: number;
  /** solved / tasks (one pair per task). */
  successRate: number | null;
  meanReward: number | null;
}

/** One row per (baseline name, round), in first-recorded order. */
export function baselineMetrics(state: RunState): BaselineMetrics[] {
  const groups = new Map<string, BaselineScore[]>();
  for (const b of state.baselines.values()) {
    const key = `${b.name}\u0000${b.round ?? ''}`;
    groups.set(key, [...(groups.get(key) ?? []), b]);
  }
  return [...groups.values()].map((rows) => {
    const solved = rows.filter((b) => b.solved).length;
    return {
      name: rows[0]!.name,
      round: rows[0]!.round,
      tasks: rows.length,
      solved,
      successRate: rows.length > 0 ? solved / rows.length : null,
      meanReward: rows.length > 0 ? rows.reduce((s, b) => s + b.reward, 0) / rows.length : null,
    };
  });
}

/** Rounds in order. */
export function roundsInOrder(state: RunState): RoundState[] {
  return [...state.rounds.values()].sort((a, b) => a.round - b.round);
}

/** Finished candidates over the whole run. */
export function finishedCandidateCount(state: RunState): number {
  let n = 0;
  for (const r of state.rounds.values()) for (const c of r.candidates.values()) if (c.score !== null) n++;
  return n;
}

/** One line for the terminal when a run is resumed: where it stands and what is left. */
export function resumeSummary(state: RunState): string {
  return whereRunStands(state, 'resuming');
}

/**
 * Where a run stands and what is left, e.g. "round 0: 1 of 4 candidates finished, 3 to do (1 interrupted, redone from
 * the start)", prefixed by `verb` where a round is named. Only candidates whose training started count as
 * interrupted: a slot whose self-edit was sampled but never trained is just to do (its sample is reused).
 */
export function whereRunStands(state: RunState, verb = ''): string {
  const at = verb ? `${verb} ` : '';
  const round = nextRound(state);
  if (round === null) return `every round is finished (${finishedCandidateCount(state)} candidates scored)`;
  const r = state.rounds.get(round);
  if (!r) return `${at}at round ${round} (not started yet); ${finishedCandidateCount(state)} candidates scored in earlier rounds`;
  const pending = pendingCandidates(state, round);
  const total = r.tasks.length * r.candidatesPerTask;
  const interrupted = pending.filter((p) => p.interrupted).length;
  if (pending.length === 0) {
    const mStep = r.sft !== null && r.checkpoint === null ? ' (its M-step was interrupted and is redone)' : '';
    return `${at}round ${round}: all ${total} candidates finished; what follows them is left${mStep}`;
  }
  return (
    `${at}round ${round}: ${total - pending.length} of ${total} candidates finished, ${pending.length} to do` +
    `${interrupted > 0 ? ` (${interrupted} interrupted, redone from the start)` : ''}`
  );
}

/** One sampled self-edit with its candidate's outcome: a line of self-edits.jsonl (a view derived from the log). */
export interface SelfEditRecord {
  round: number;
  task: string;
  candidate: number;
  attempt: number;
  text: string;
  edit: unknown;
  invalid: string | null;
  adjustments: EditAdjustment[];
  /** Whether this sample is the one its candidate trained on. */
  chosen: boolean;
  /** The candidate's outcome (null while unfinished). */
  reward: number | null;
  solved: boolean | null;
  skipped: string | null;
  adapter: string | null;
}

/** Every recorded self-edit sample, rounds in order, candidates in plan order. */
export function selfEditRecords(state: RunState): SelfEditRecord[] {
  const out: SelfEditRecord[] = [];
  for (const r of roundsInOrder(state)) {
    const order = new Map(r.tasks.map((t, i) => [t, i]));
    const candidates = [...r.candidates.values()].sort(
      (a, b) =>
        (order.get(a.task) ?? Infinity) - (order.get(b.task) ?? Infinity) || (a.task < b.task ? -1 : a.task > b.task ? 1 : 0) || a.candidate - b.candidate,
    );
    for (const c of candidates) {
      const chosen = chosenEdit(c);
      for (const s of c.samples) {
        out.push({
          round: r.round,
          task: c.task,
          candidate: c.candidate,
          attempt: s.attempt,
          text: s.text,
          edit: s.edit,
          invalid: s.invalid,
          adjustments: s.adjustments,
          chosen: s === chosen,
          reward: c.score?.reward ?? null,
          solved: c.score?.solved ?? null,
          skipped: c.score?.skipped ?? null,
          adapter: c.score?.adapter ?? null,
        });
      }
    }
  }
  return out;
}
