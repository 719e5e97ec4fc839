/** `--tasks FILE[:SPEC]`: the solutions file beside, id lists, named lists, and clear errors. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ArcRunUsageError, parseTasksFlag } from '../../runtime-node/arc-run.ts';
import { SEAL_1B_EVAL_TASK_IDS, SEAL_1B_REFERENCE_SCORED_TRAINING_TASK_IDS, SEAL_1B_TRAINING_TASK_IDS } from '../../src/domains/arc/index.ts';
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

  it('a named list alone reads the 1B subset files shipped in examples/data/arc, which also work as files', () => {
    const arc = fileURLToPath(new URL('../../examples/data/arc/', import.meta.url));
    const evalSubset = join(arc, 'arc-agi_evaluation_challenges_filtered_1B_eval_set.json');
    const trainSubset = join(arc, 'arc-agi_training_challenges_filtered_1B_training_set.json');
    expect(parseTasksFlag('seal-1b-eval')).toEqual({
      challenges: evalSubset,
      solutions: join(arc, 'arc-agi_evaluation_solutions_filtered_1B_eval_set.json'),
      ids: SEAL_1B_EVAL_TASK_IDS,
    });
    expect(parseTasksFlag('seal-1b-training-scored')).toMatchObject({ challenges: trainSubset, ids: SEAL_1B_REFERENCE_SCORED_TRAINING_TASK_IDS });
    expect(parseTasksFlag('seal-1b-training').ids).toEqual(SEAL_1B_TRAINING_TASK_IDS);
    expect(parseTasksFlag('seal-1b-eval-scored').ids).toHaveLength(8);
    expect(parseTasksFlag(trainSubset)).toMatchObject({ challenges: trainSubset, ids: null });
    expect(() => parseTasksFlag('seal-1b-nothing')).toThrow(/the challenges file seal-1b-nothing does not exist/);
    expect(() => parseTasksFlag('toString')).toThrow(/does not exist/);
  });
});
