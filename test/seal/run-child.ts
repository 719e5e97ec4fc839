/**
 * A process running part of a SEAL run, for the two-process tests: `node --import tsx test/seal/run-child.ts <dir>
 * <budget>`. It opens the run directory, writes `budget` records of the fake loop, prints "ready <pid>", and then
 * keeps running (holding the lock) until it is killed.
 */
import { RunDir } from '../../runtime-node/run-dir.ts';
import { Killed, runFakeLoop, testConfig } from './helpers.ts';

const [dir, budget] = process.argv.slice(2);
const run = await RunDir.open(dir!, { config: testConfig(), onWarning: () => {} });
try {
  runFakeLoop(run, { budget: Number(budget) });
} catch (e) {
  if (!(e instanceof Killed)) throw e;
}
console.log(`ready ${process.pid}`);
setInterval(() => {}, 1000);
