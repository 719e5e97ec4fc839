/**
 * The event log format: stamping checks the writer's records; reading tolerates unknown fields and types, refuses a
 * newer format, cuts a torn last line (the only damage a kill leaves) and refuses damage anywhere else.
 */
import { describe, expect, it } from 'vitest';
import { EVENT_FORMAT_VERSION, EventLogError, eventLine, parseEventLog, stampEvent, type RunEvent, type RunEventInput } from '../../src/seal/events.ts';
import { ARC_DEFAULTS, parseSelfEdit, passAt2, type Grid } from '../../src/domains/arc/index.ts';
import { checkRunConfig } from '../../src/seal/run-config.ts';
import { testConfig } from './helpers.ts';

const T0 = new Date(Date.UTC(2026, 0, 1));
const enc = (text: string) => new TextEncoder().encode(text);

function log(inputs: RunEventInput[]): RunEvent[] {
  return inputs.map((e, i) => stampEvent(e, i + 1, T0));
}

const START: RunEventInput = { type: 'run-started', config: testConfig(), configHash: 'sha256:x', invocation: { pid: 1 } };
const ROUND: RunEventInput = { type: 'round-started', round: 0, policy: { kind: 'base' }, tasks: ['a', 'b'], candidatesPerTask: 2 };
const SCORED: RunEventInput = { type: 'candidate-scored', round: 0, task: 'a', candidate: 0, reward: 1, solved: true, tests: [{ id: 'a-0', correct: true }] };

describe('event records', () => {
  it('stamps version, sequence and time', () => {
    const e = stampEvent(ROUND, 3, T0);
    expect(e).toMatchObject({ v: EVENT_FORMAT_VERSION, seq: 3, time: '2026-01-01T00:00:00.000Z', type: 'round-started', round: 0 });
    expect(eventLine(e).endsWith('\n')).toBe(true);
    expect(eventLine(e).split('\n')).toHaveLength(2);
  });

  it('refuses malformed records with the field named', () => {
    expect(() => stampEvent({ ...SCORED, reward: Number.NaN } as RunEventInput, 1, T0)).toThrow(/"reward" must be number/);
    expect(() => stampEvent({ ...SCORED, candidate: -1 } as RunEventInput, 1, T0)).toThrow(/"candidate" must be an integer >= 0/);
    expect(() => stampEvent({ ...SCORED, tests: [{ id: 'x' }] } as unknown as RunEventInput, 1, T0)).toThrow(/"tests"/);
    expect(() => stampEvent({ ...ROUND, policy: { kind: 'mystery' } } as unknown as RunEventInput, 1, T0)).toThrow(/"policy"/);
    expect(() => stampEvent({ type: 'self-edit-sampled', round: 0, task: 'a', candidate: 0, attempt: 0, text: 'x', edit: null }, 1, T0)).toThrow(
      /either valid/,
    );
    expect(() =>
      stampEvent({ type: 'self-edit-sampled', round: 0, task: 'a', candidate: 0, attempt: 0, text: 'x', edit: { a: 1 }, invalid: 'bad' }, 1, T0),
    ).toThrow(/either valid/);
  });

  it("checks the interrupted record and a candidate's untrained reason", () => {
    expect(stampEvent({ type: 'interrupted', signal: 'SIGINT' }, 1, T0)).toMatchObject({ type: 'interrupted', signal: 'SIGINT', seq: 1 });
    expect(() => stampEvent({ type: 'interrupted' } as unknown as RunEventInput, 1, T0)).toThrow(/"signal"/);
    const started = { type: 'candidate-started', round: 0, task: 'a', candidate: 0, plannedSteps: 0 } as const;
    expect(stampEvent({ ...started, untrained: 'over the step budget (375): ...' }, 1, T0).type).toBe('candidate-started');
    expect(() => stampEvent({ ...started, untrained: 3 } as unknown as RunEventInput, 1, T0)).toThrow(/"untrained"/);
  });

  it('allows a diverged loss (null) but not a missing one', () => {
    expect(stampEvent({ type: 'ttt-step', round: 0, task: 'a', candidate: 0, step: 1, loss: null, lr: 1e-4, tokens: 5 }, 1, T0).type).toBe('ttt-step');
    expect(() => stampEvent({ type: 'ttt-step', round: 0, task: 'a', candidate: 0, step: 1, lr: 1e-4, tokens: 5 } as unknown as RunEventInput, 1, T0)).toThrow(
      /"loss"/,
    );
  });
});

describe('parseEventLog', () => {
  it('reads a clean log, keeping unknown fields and skipping unknown types with a warning', () => {
    const events = log([START, ROUND, SCORED]);
    const lines = events.map(eventLine);
    lines[1] = `${JSON.stringify({ ...events[1], futureField: { x: 1 } })}\n`;
    lines.splice(2, 0, `${JSON.stringify({ v: 1, seq: 3, time: T0.toISOString(), type: 'gpu-telemetry', watts: 300 })}\n`);
    lines[3] = eventLine({ ...events[2]!, seq: 4 });
    const parsed = parseEventLog(enc(lines.join('')));
    expect(parsed.torn).toBeNull();
    expect(parsed.events.map((e) => e.type)).toEqual(['run-started', 'round-started', 'candidate-scored']);
    expect((parsed.events[1] as unknown as { futureField: unknown }).futureField).toEqual({ x: 1 });
    expect(parsed.lines).toBe(4);
    expect(parsed.warnings).toHaveLength(1);
    expect(parsed.warnings[0]).toMatch(/line 3: unknown event type "gpu-telemetry"/);
  });

  it('refuses a log from a newer format version', () => {
    const text = `${eventLine(stampEvent(START, 1, T0))}${JSON.stringify({ v: EVENT_FORMAT_VERSION + 1, seq: 2, time: T0.toISOString(), type: 'round-started' })}\n`;
    expect(() => parseEventLog(enc(text))).toThrow(EventLogError);
    expect(() => parseEventLog(enc(text))).toThrow(/line 2: event format v2 is newer .* upgrade/);
  });

  it('cuts a torn last line at every possible cut point of the last record', () => {
    const events = log([START, ROUND, SCORED]);
    const intact = events.slice(0, 2).map(eventLine).join('');
    const last = eventLine(events[2]!);
    const intactBytes = enc(intact).byteLength;
    for (let cut = 1; cut < last.length; cut++) {
      const parsed = parseEventLog(enc(intact + last.slice(0, cut)));
      expect(parsed.events, `cut ${cut}`).toHaveLength(2);
      expect(parsed.validBytes).toBe(intactBytes);
      expect(parsed.lines).toBe(2);
      expect(parsed.torn?.line).toBe(3);
      expect(new TextDecoder().decode(parsed.torn!.bytes)).toBe(last.slice(0, cut));
      expect(parsed.warnings.join('\n')).toMatch(/line 3 is incomplete .*killed/);
    }
    expect(parseEventLog(enc(intact + last)).events).toHaveLength(3);
  });

  it('treats a last line of zero bytes (power loss) or a cut multi-byte character as torn', () => {
    const intact = log([START]).map(eventLine).join('');
    const zeros = new Uint8Array([...enc(intact), 0, 0, 0, 0]);
    expect(parseEventLog(zeros).torn?.bytes).toEqual(new Uint8Array(4));
    const withText = eventLine(stampEvent({ type: 'warning', message: 'é — ✓' }, 2, T0));
    const bytes = enc(intact + withText);
    const cutInsideChar = bytes.slice(0, bytes.byteLength - 5);
    const parsed = parseEventLog(cutInsideChar);
    expect(parsed.events).toHaveLength(1);
    expect(parsed.torn).not.toBeNull();
  });

  it('refuses damage that is not at the end, naming the line', () => {
    const lines = log([START, ROUND, SCORED]).map(eventLine);
    const damaged = `${lines[0]}${lines[1]!.slice(0, 20)}\n${lines[2]}`;
    expect(() => parseEventLog(enc(damaged))).toThrow(/line 2 is corrupt .* not the last line/);
    expect(() => parseEventLog(enc(`${lines[0]}\n${lines[1]}`))).toThrow(/line 2 is corrupt/);
    const badField = `${lines[0]}${JSON.stringify({ v: 1, seq: 2, time: 'x', type: 'candidate-scored', round: 0 })}\n${lines[2]}`;
    expect(() => parseEventLog(enc(badField))).toThrow(/line 2 is corrupt \(field "task"/);
  });

  it('warns when a record carries an unexpected sequence number', () => {
    const events = log([START, ROUND]);
    const text = eventLine(events[0]!) + eventLine({ ...events[1]!, seq: 7 });
    expect(parseEventLog(enc(text)).warnings.join()).toMatch(/line 2 has seq 7/);
  });
});

describe("the ARC domain's objects go into records as they are", () => {
  it('a parsed (clamped) self-edit, its adjustments, the attempt grids and the settings', () => {
    const text = JSON.stringify({
      data_generation: { use_basic_augmentations: true, use_size_augmentations: false, use_chain_augmentations: false, use_repeat_augmentations: false },
      training: { strategy: 'train_using_output_tokens', learning_rate: 5, num_train_epochs: 2 },
    });
    const parsed = parseSelfEdit(text);
    if (!parsed.ok) throw new Error(parsed.reason);
    const sampled = stampEvent(
      { type: 'self-edit-sampled', round: 0, task: 'a', candidate: 0, attempt: 0, text, edit: parsed.edit, adjustments: [...parsed.adjustments] },
      1,
      T0,
    );
    const back = parseEventLog(enc(eventLine(sampled))).events[0]!;
    expect(back).toMatchObject({
      edit: { learningRate: ARC_DEFAULTS.selfEdit.limits.learningRate.max, epochs: 2 },
      adjustments: [{ field: 'training.learning_rate', from: 5 }],
    });

    const attempts: Grid[] = [[[1, 2]], [[3, 4]]];
    const scored = stampEvent(
      {
        type: 'candidate-scored',
        round: 0,
        task: 'a',
        candidate: 0,
        reward: 1,
        solved: true,
        tests: [{ id: 'a-0', correct: passAt2(attempts, [[3, 4]]), prediction: attempts }],
      },
      2,
      T0,
    );
    expect(parseEventLog(enc(eventLine(scored))).events[0]).toMatchObject({ tests: [{ correct: true, prediction: [[[1, 2]], [[3, 4]]] }] });

    const config = checkRunConfig(testConfig({ settings: ARC_DEFAULTS }));
    expect((config.settings as typeof ARC_DEFAULTS).inference.transforms[0]).toEqual({ kind: 'transpose' });
    expect(() => checkRunConfig(testConfig({ settings: { f: () => 1 } }))).toThrow(/\$\.settings\.f is function/);
  });
});
