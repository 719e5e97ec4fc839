/**
 * measure.sh's record keeper (bundled as dist/measure-report.mjs, so it runs on the GPU machine with only Node):
 *
 *   node dist/measure-report.mjs commit                       # the commit dist/ was built from
 *   node dist/measure-report.mjs start  --dir D --stages S [--gpu "NAME, DRIVER"] [--preset P]
 *   node dist/measure-report.mjs record --dir D --stages S --stage NAME --status ok|failed|timed-out|skipped
 *                                       [--seconds N] [--cap N] [--reason TEXT] [--gpu ...] [--preset P]
 *
 * D/measure.json holds the run (commit, device, driver) and every stage's record; after each record every JSON a
 * stage left in S/<stage>/ is stamped with `measure: {stage, device, driver, commit}` and D/summary.json and
 * D/summary.md are rewritten from them (summary.ts).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { writeFileAtomicSync } from '../../runtime-node/durable-write.ts';
import { MEASURE_STAGES, summarize, summaryMarkdown, type MeasureStage, type StageOutputs, type StageRecord, type StageStatus } from './summary.ts';

interface MeasureRun {
  schema: 'seal-measure-run/1';
  commit: string;
  device: string;
  driver: string;
  preset: string;
  stages: StageRecord[];
}

const STATUSES: readonly StageStatus[] = ['ok', 'failed', 'timed-out', 'skipped'];

const writeJson = (file: string, value: unknown) => writeFileAtomicSync(file, `${JSON.stringify(value, null, 2)}\n`);

/** Every JSON document a stage left (its folder, one level of subfolders), parsed; those that do not parse by name. */
function stageOutputs(stagesDir: string, stage: MeasureStage): StageOutputs {
  const dir = join(stagesDir, stage);
  const out: StageOutputs = { docs: [], unreadable: [] };
  if (!existsSync(dir)) return out;
  const files = readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.json'))
    .sort();
  for (const f of files) {
    try {
      const doc: unknown = JSON.parse(readFileSync(join(dir, f), 'utf8'));
      if (doc && typeof doc === 'object' && !Array.isArray(doc)) out.docs.push({ file: join(stage, f), doc: doc as Record<string, unknown> });
      else out.unreadable.push(`${join(stage, f)} (not a JSON object)`);
    } catch (e) {
      out.unreadable.push(`${join(stage, f)} (${(e as Error).message.split('\n')[0]})`);
    }
  }
  return out;
}

/**
 * The device and its driver: nvidia-smi's name and driver version where it answered, else the doctor stage's
 * adapter (Dawn's adapter description names the driver, e.g. "llvmpipe: Mesa 25.0.7 ...").
 */
function deviceAndDriver(gpu: string, doctor: StageOutputs): { device: string; driver: string } {
  const [name, driver] = gpu.split(',').map((s) => s.trim());
  const adapter = doctor.docs[0]?.doc.adapter as { description?: string; vendor?: string; architecture?: string } | undefined;
  const described = adapter?.description || [adapter?.vendor, adapter?.architecture].filter(Boolean).join(' ') || undefined;
  return { device: name || described || 'unknown', driver: driver || adapter?.description || 'unknown' };
}

function main(argv: string[]): number {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      dir: { type: 'string' },
      stages: { type: 'string' },
      gpu: { type: 'string', default: '' },
      preset: { type: 'string', default: 'full' },
      stage: { type: 'string' },
      status: { type: 'string' },
      seconds: { type: 'string' },
      cap: { type: 'string' },
      reason: { type: 'string' },
    },
  });
  const command = positionals[0];
  if (command === 'commit') {
    console.log(__SEAL_COMMIT__);
    return 0;
  }
  if (command !== 'start' && command !== 'record') throw new Error(`unknown command '${command ?? ''}' (commit, start or record)`);
  if (!values.dir || !values.stages) throw new Error('--dir and --stages are required');
  const runFile = join(values.dir, 'measure.json');
  const run: MeasureRun =
    command === 'start' || !existsSync(runFile)
      ? {
          schema: 'seal-measure-run/1',
          commit: __SEAL_COMMIT__,
          device: 'unknown',
          driver: 'unknown',
          preset: values.preset!,
          stages: MEASURE_STAGES.map((stage) => ({ stage, status: 'pending', seconds: null, cap: null, reason: null, files: [] })),
        }
      : (JSON.parse(readFileSync(runFile, 'utf8')) as MeasureRun);
  if (command === 'record') {
    const stage = values.stage as MeasureStage;
    if (!MEASURE_STAGES.includes(stage)) throw new Error(`--stage must be one of ${MEASURE_STAGES.join(', ')}`);
    const status = values.status as StageStatus;
    if (!STATUSES.includes(status)) throw new Error(`--status must be one of ${STATUSES.join(', ')}`);
    const record = run.stages.find((r) => r.stage === stage)!;
    record.status = status;
    record.seconds = values.seconds === undefined ? null : Number(values.seconds);
    record.cap = values.cap === undefined ? null : Number(values.cap);
    record.reason = values.reason ?? null;
  }
  const outputs: Partial<Record<MeasureStage, StageOutputs>> = {};
  for (const s of MEASURE_STAGES) outputs[s] = stageOutputs(values.stages, s);
  Object.assign(run, deviceAndDriver(values.gpu!, outputs.doctor!));
  for (const s of MEASURE_STAGES) {
    const record = run.stages.find((r) => r.stage === s)!;
    record.files = outputs[s]!.docs.map((d) => d.file);
    // Stamp what each JSON was measured on; rewritten only when it changed (the device is known after doctor).
    const stamp = { stage: s, device: run.device, driver: run.driver, commit: run.commit, preset: run.preset };
    for (const { file, doc } of outputs[s]!.docs) {
      if (JSON.stringify(doc.measure) === JSON.stringify(stamp)) continue;
      doc.measure = stamp;
      writeJson(join(values.stages, file), doc);
    }
  }
  writeJson(runFile, run);
  const summary = summarize({ commit: run.commit, device: run.device, driver: run.driver, preset: run.preset }, run.stages, outputs);
  writeJson(join(values.dir, 'summary.json'), summary);
  writeFileAtomicSync(join(values.dir, 'summary.md'), summaryMarkdown(summary));
  return 0;
}

try {
  process.exitCode = main(process.argv.slice(2));
} catch (e) {
  console.error(`measure-report: ${(e as Error).message}`);
  process.exitCode = 2;
}
