/** `--tasks FILE[:SPEC]`: the solutions file beside, id lists, named lists, and clear errors. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ArcRunUsageError, parseTasksFlag } from '../../runtime-node/arc-run.ts';
import {
  SEAL_1B_EVAL_TASK_IDS,
  SEAL_1B_REFERENCE_SCORED_TRAINING_TASK_IDS,
  SEAL_1B_TRAINING_TASK_IDS,
} from '../../src/domains/arc/index.ts';
import { sharedPath } from '../harness/shared.ts';

describe('--tasks', () => {
  const evalFile = sharedPath('data/arc/arc-agi_evaluation_challenges.json');
  const trainFile = sharedPath('data/arc/arc-agi_training_challenges.json');

  it("names the paper's lists and the ones its reference scored", () => {
    expect(parseTasksFlag(`${trainFile}:seal-1b-training`).ids).toEqual(SEAL_1B_TRAINING_TASK_IDS);
    expect(parseTasksFlag(`${evalFile}:seal-1b-eval`).ids).toEqual(SEAL_1B_EVAL_TASK_IDS);
    expect(parseTasksFlag(`${trainFile}:seal-1b-training-scored`).ids).toEqual(SEAL_1B_REFERENCE_SCORED_TRAINING_TASK_IDS);
    const scored = parseTasksFlag(`${evalFile}:seal-1b-eval-scored`);
    expect(scored.ids).toHaveLength(8);
    expect(scored.solutions).toBe(sharedPath('data/arc/arc-agi_evaluation_solutions.json'));
  });

  it('reads id lists inline or from a file; a whole file without a spec', () => {
    const dir = mkdtempSync(join(tmpdir(), 'seal-tasks-'));
    const ids = join(dir, 'ids.txt');
    writeFileSync(ids, 'b1fc8b8e\n 59341089, ce8d95cc\n');
    expect(parseTasksFlag(`${evalFile}:${ids}`).ids).toEqual(['b1fc8b8e', '59341089', 'ce8d95cc']);
    writeFileSync(ids, '["b1fc8b8e"]');
    expect(parseTasksFlag(`${evalFile}:${ids}`).ids).toEqual(['b1fc8b8e']);
    expect(parseTasksFlag(`${evalFile}:b1fc8b8e,59341089`).ids).toEqual(['b1fc8b8e', '59341089']);
    expect(parseTasksFlag(evalFile).ids).toBeNull();
    expect(() => parseTasksFlag(join(dir, 'ids.txt'))).toThrow(ArcRunUsageError);
    expect(() => parseTasksFlag(join(dir, 'none_challenges.json'))).toThrow(/the challenges file .* does not exist/);
    writeFileSync(join(dir, 'x_challenges.json'), '{}');
    expect(() => parseTasksFlag(join(dir, 'x_challenges.json'))).toThrow(/no solutions file .*x_solutions\.json/);
    expect(() => parseTasksFlag(`${evalFile}:,`)).toThrow(/lists no task ids/);
  });
});
