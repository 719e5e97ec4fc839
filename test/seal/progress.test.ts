/** The run's progress line (round, task, candidate, TTT / SFT step with loss) and its redraw policy on TTYs and logs. */
import { describe, expect, it } from 'vitest';
import { formatRunProgress, RunProgressDisplay } from '../../src/seal/progress.ts';
import { configHash } from '../../src/seal/run-config.ts';
import { MemoryLog, testConfig } from './helpers.ts';

function run(): MemoryLog {
  const log = new MemoryLog();
  const config = testConfig();
  log.append({ type: 'run-started', config, configHash: configHash(config), invocation: {} });
  log.append({ type: 'round-started', round: 1, policy: { kind: 'base' }, tasks: ['a', 'b', 'c'], candidatesPerTask: 5 });
  return log;
}

describe('progress line', () => {
  it("shows round, task, candidate, TTT step with a bar and loss, and the round's scored count", () => {
    const log = run();
    expect(formatRunProgress(log.state)).toBe('round 1 (2/2) · 0/15 scored');
    log.append({ type: 'candidate-scored', round: 1, task: 'a', candidate: 0, reward: 1, solved: true, tests: [] });
    log.append({ type: 'self-edit-sampled', round: 1, task: 'b', candidate: 3, attempt: 0, text: 'x', edit: {} });
    expect(formatRunProgress(log.state)).toBe('round 1 (2/2) · task b (2/3) · candidate 3 (4/5) · sampling · 1/15 scored');
    log.append({ type: 'candidate-started', round: 1, task: 'b', candidate: 3, plannedSteps: 8 });
    log.append({ type: 'ttt-step', round: 1, task: 'b', candidate: 3, step: 4, loss: 0.1234, lr: 1e-4, tokens: 10 });
    expect(formatRunProgress(log.state)).toBe('round 1 (2/2) · task b (2/3) · candidate 3 (4/5) · TTT step 4/8 [########........] · loss 0.123 · 1/15 scored');
    log.append({ type: 'policy-sft-started', round: 1, examples: 4, plannedSteps: 2 });
    log.append({ type: 'policy-sft-step', round: 1, step: 1, loss: 2, lr: 1e-4, tokens: 10 });
    expect(formatRunProgress(log.state)).toBe('round 1 (2/2) · policy SFT step 1/2 [########........] · loss 2 · 1/15 scored');
  });

  it('redraws in place on a TTY at most every 100 ms, and writes plain lines to a log at the interval', () => {
    const log = run();
    let t = 0;
    let tty = '';
    const display = new RunProgressDisplay({ stream: { isTTY: true, columns: 60, write: (s) => (tty += s) }, now: () => t });
    display.update(log.state);
    log.append({ type: 'candidate-started', round: 1, task: 'a', candidate: 0 });
    t = 50;
    display.update(log.state);
    expect(tty.split('\r')).toHaveLength(2);
    t = 150;
    display.update(log.state);
    expect(tty.split('\r')).toHaveLength(3);
    expect(tty.split('\r').every((l) => l.length <= 59)).toBe(true);
    display.finish();
    expect(tty.endsWith('\n')).toBe(true);

    let plain = '';
    const logDisplay = new RunProgressDisplay({ stream: { write: (s) => (plain += s) }, now: () => t, lineIntervalMs: 1000 });
    logDisplay.update(log.state);
    t = 900;
    logDisplay.update(log.state);
    logDisplay.update(log.state, true);
    expect(plain.split('\n').filter(Boolean)).toHaveLength(2);
    expect(plain).not.toContain('\r');
  });
});
