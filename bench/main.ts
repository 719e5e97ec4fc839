/**
 * The benchmark driver: `npm run bench -- <suite> [options]` or, on a machine with only Node and the webgpu package,
 * `node dist/bench.mjs <suite> [options]`. Prints a table and writes JSON (adapter, features, commit) to bench/results/.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createNodeContext } from '../runtime-node/device.ts';
import { writeFileAtomicSync } from '../runtime-node/durable-write.ts';
import { embeddedArcSubset } from '../runtime-node/examples.ts';
import { oneOf } from '../runtime-node/flags.ts';
import type { DType } from '../src/gpu/dtype.ts';
import { generateBench } from './generate.ts';
import { devicePeak } from './peaks.ts';
import { kernelBench } from './kernels.ts';
import { HF_CONFIGS } from './shapes.ts';
import { ARC_BENCH_TASK, arcBench, benchSelfEdit, type ArcBenchOptions } from './arc.ts';
import {
  CENSUS_CASES,
  CENSUS_SCHEMA,
  CENSUS_WIDTHS,
  censusCases,
  censusHeader,
  censusModel,
  WARMUP_STEPS,
  type CensusCase,
  type CensusCaseName,
  type CensusModel,
} from './census.ts';
import { TRAINING_PRECISIONS } from '../src/train/lora-linear.ts';
import { parseShape, SFT_SETUPS, sftBench, sftCases, type SftCaseOptions } from './sft.ts';

// Optional defaults beside the checkout (the full ARC files, the Llama-3.2 tokenizer); bench arc falls back or says so.
const SHARED_ARC_TASKS = '../shared/data/arc/arc-agi_evaluation_challenges.json';
const SHARED_ARC_TOKENIZER = '../shared/tokenizers/Llama-3.2-1B-Instruct';

const USAGE = `Usage:
  npm run bench -- kernels [--filter REGEX] [--weights bf16|f16|f32] [--attention-heads N] [--out DIR] [--adapter NAME]
  npm run bench -- generate [--models ${Object.keys(HF_CONFIGS).join(',')}] [--layers N] [--prefill 512,2048]
                            [--batch 1,8,32] [--context 128] [--decode-steps 32] [--out DIR] [--adapter NAME]
      (random-weight bf16 models at the real shapes; --layers N builds only N decoder layers, for CPU adapters)
  npm run bench -- sft [--models ${Object.keys(SFT_SETUPS).join(',')}] [--layers N] [--seq N] [--sequences N] [--k 1,8]
                       [--k-mode fused,sequential] [--precision f32,mixed] [--steps 3] [--recompute on|off]
                       [--max-seconds 120] [--print-cases]
                       [--out DIR] [--adapter NAME]
      (LoRA SFT steps: forward + backward + AdamW; --sequences per adapter per step; K > 1 adapters in one pass (fused)
       or one after another (sequential); --print-cases prints the cases as JSON for bench/peers/peft_sft.py and
       exits; --shape hidden_size=256,... shrinks the model for CPU adapters)
  npm run bench -- arc [--models Llama-3.2-1B] [--layers N] [--shape KEY=N,...] [--k 1,5] [--task ${ARC_BENCH_TASK}]
                       [--tasks CHALLENGES.json] [--tokenizer DIR] [--self-edit JSON] [--ttt-max-steps N]
                       [--answer-tokens N] [--precision f32|mixed] [--out DIR] [--adapter NAME]
      (one ARC candidate end to end: TTT dataset, K candidates trained together, augmented inference and voting,
       split into training / inference / overhead; default self-edit: the oracle's; answers decoded to the length
       of the true answer; --tasks defaults to ../shared's full evaluation file, else the 1B eval subset in
       examples/data/arc; --tokenizer to ../shared's Llama-3.2-1B-Instruct files; --precision: TTT's base matmuls, as
       seal arc --precision, default f32)
  npm run bench -- census [--models ${Object.keys(SFT_SETUPS).join(',')}] [--cases ${CENSUS_CASES.join(',')}]
                          [--layers N] [--out DIR] [--adapter NAME]
      (what one steady-state step of each case asks of the GPU, counted, not timed: dispatches, submits, host
       waits, bind groups / pipelines / buffers created, bytes moved, host ms recording, weight bytes read per
       decode token at the real widths; random-weight models at the real structure with shrunk widths, see
       docs/census.md; writes census-<device>-<commit>.json)
  sft and arc: --precision f32 = the exact portable path, mixed = 16-bit operands on the fastest kernel (tensor
       cores through subgroup matrices where the device has them); sft runs both by default`;

/** bench arc's task file: the full evaluation file in ../shared when it is there, else the embedded 1B eval subset. */
function defaultArcTasks(): string {
  if (existsSync(SHARED_ARC_TASKS)) return SHARED_ARC_TASKS;
  const embedded = embeddedArcSubset('evaluation');
  if (embedded === null) throw new Error(`--tasks: neither ${SHARED_ARC_TASKS} nor the package's examples/data/arc is there; pass --tasks CHALLENGES.json`);
  return embedded;
}

/** bench arc's tokenizer (with the Llama-3.2 chat template): only in ../shared, it is too large to ship (9 MB). */
function defaultArcTokenizer(): string {
  if (existsSync(SHARED_ARC_TOKENIZER)) return SHARED_ARC_TOKENIZER;
  throw new Error(`--tokenizer: ${SHARED_ARC_TOKENIZER} is not there; pass --tokenizer DIR with a Llama-3.2-Instruct tokenizer.json and tokenizer_config.json`);
}

/** A comma-separated list of positive integers. */
function intList(value: string, flag: string): number[] {
  const xs = value.split(',').map((v) => Number(v.trim()));
  if (!xs.length || !xs.every((x) => Number.isInteger(x) && x >= 1))
    throw new Error(`${flag} must be a comma-separated list of positive integers, got '${value}'`);
  return xs;
}

/** bench census: counts every case of every model, prints a table and writes census-<device>-<commit>.json to `out`. */
async function runCensus(models: CensusModel[], cases: CensusCaseName[], out: string, adapter: string | undefined): Promise<number> {
  const ctx = await createNodeContext({ adapter });
  const a = ctx.caps.adapter;
  const device = a.description || [a.vendor, a.architecture].filter(Boolean).join(' ') || 'unknown';
  console.log(`device: ${device}; features: ${JSON.stringify(ctx.features)}; commit ${__SEAL_COMMIT__}`);
  mkdirSync(out, { recursive: true });
  // Mesa's llvmpipe is reached through its Vulkan driver, lavapipe: the name the project's docs use.
  const short = /llvmpipe/i.test(device)
    ? 'lavapipe'
    : device
        .toLowerCase()
        .replace(/[^a-z0-9]+/g, '-')
        .replace(/^-|-$/g, '')
        .slice(0, 40);
  const file = join(out, `census-${short}-${__SEAL_COMMIT__}.json`);
  const counted: CensusCase[] = [];
  const save = (complete: boolean) => {
    const report = {
      schema: CENSUS_SCHEMA,
      date: new Date().toISOString(),
      commit: __SEAL_COMMIT__,
      runtime: `node ${process.version}`,
      device,
      adapter: a,
      features: ctx.features,
      limits: { maxStorageBufferBindingSize: ctx.limits.maxStorageBufferBindingSize, maxBufferSize: ctx.limits.maxBufferSize },
      widths: CENSUS_WIDTHS,
      models: models.map((m) => ({ name: m.name, census: m.census, lora: m.lora, sftTokens: m.sftTokens })),
      warmupSteps: WARMUP_STEPS,
      complete,
      cases: counted,
    };
    writeFileAtomicSync(file, `${JSON.stringify(report, null, 2)}\n`);
  };
  console.log(censusHeader());
  for (const m of models) {
    await censusCases(ctx, m, {
      cases,
      log: (l) => console.log(l),
      onCase: (c) => {
        counted.push(c);
        save(false);
      },
    });
  }
  save(true);
  console.log(`wrote ${file}`);
  ctx.dispose();
  return 0;
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      filter: { type: 'string' },
      weights: { type: 'string', default: 'bf16' },
      'attention-heads': { type: 'string' },
      out: { type: 'string', default: 'bench/results' },
      adapter: { type: 'string' },
      models: { type: 'string' },
      layers: { type: 'string' },
      prefill: { type: 'string', default: '512,2048' },
      batch: { type: 'string', default: '1,8,32' },
      context: { type: 'string', default: '128' },
      'decode-steps': { type: 'string', default: '32' },
      seq: { type: 'string' },
      sequences: { type: 'string', default: '1' },
      k: { type: 'string' },
      'k-mode': { type: 'string', default: 'fused' },
      precision: { type: 'string' },
      cases: { type: 'string' },
      steps: { type: 'string', default: '3' },
      recompute: { type: 'string', default: 'off' },
      'max-seconds': { type: 'string', default: '120' },
      shape: { type: 'string' },
      task: { type: 'string', default: ARC_BENCH_TASK },
      tasks: { type: 'string' },
      tokenizer: { type: 'string' },
      'self-edit': { type: 'string' },
      'ttt-max-steps': { type: 'string' },
      'answer-tokens': { type: 'string' },
      'print-cases': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  const suite = positionals[0];
  if (values.help || !suite) {
    console.log(USAGE);
    return values.help ? 0 : 2;
  }
  if (suite !== 'kernels' && suite !== 'generate' && suite !== 'sft' && suite !== 'arc' && suite !== 'census') {
    console.error(`bench: unknown suite '${suite}' (available: kernels, generate, sft, arc, census)\n${USAGE}`);
    return 2;
  }
  if (suite === 'census') {
    const layers = values.layers === undefined ? undefined : intList(values.layers, '--layers')[0];
    const models = (values.models ?? Object.keys(SFT_SETUPS).join(',')).split(',').map((m) => censusModel(m.trim(), { layers }));
    const cases = (values.cases ?? CENSUS_CASES.join(',')).split(',').map((c) => c.trim());
    const unknown = cases.filter((c) => !(CENSUS_CASES as readonly string[]).includes(c));
    if (unknown.length) throw new Error(`--cases: unknown case '${unknown[0]}' (available: ${CENSUS_CASES.join(', ')})`);
    return runCensus(models, cases as CensusCaseName[], values.out!, values.adapter);
  }
  let arc: Omit<ArcBenchOptions, 'log'> | null = null;
  if (suite === 'arc') {
    const models = (values.models ?? 'Llama-3.2-1B').split(',').map((m) => m.trim());
    if (models.length !== 1) throw new Error('--models: bench arc runs one model');
    arc = {
      model: models[0]!,
      layers: values.layers === undefined ? undefined : intList(values.layers, '--layers')[0],
      shape: values.shape === undefined ? undefined : parseShape(values.shape),
      tokenizer: values.tokenizer ?? defaultArcTokenizer(),
      challenges: values.tasks ?? defaultArcTasks(),
      task: values.task!,
      ks: intList(values.k ?? '1,5', '--k'),
      selfEdit: benchSelfEdit(values['self-edit']),
      tttMaxSteps: values['ttt-max-steps'] === undefined ? null : intList(values['ttt-max-steps'], '--ttt-max-steps')[0]!,
      answerTokens: values['answer-tokens'] === undefined ? null : intList(values['answer-tokens'], '--answer-tokens')[0]!,
      precision: oneOf(values.precision ?? 'f32', '--precision', TRAINING_PRECISIONS)!,
    };
  }
  let sft: SftCaseOptions | null = null;
  if (suite === 'sft') {
    if (values.recompute !== 'on' && values.recompute !== 'off') throw new Error(`--recompute must be on or off, not '${values.recompute}'`);
    const adapterModes = values['k-mode']!.split(',').map((m) => m.trim());
    if (!adapterModes.every((m): m is 'fused' | 'sequential' => m === 'fused' || m === 'sequential')) {
      throw new Error(`--k-mode must be fused, sequential or both (comma-separated), not '${values['k-mode']}'`);
    }
    const precisions = (values.precision ?? 'f32,mixed').split(',').map((m) => oneOf(m.trim(), '--precision', TRAINING_PRECISIONS)!);
    sft = {
      models: (values.models ?? Object.keys(SFT_SETUPS).join(',')).split(',').map((m) => m.trim()),
      layers: values.layers === undefined ? undefined : intList(values.layers, '--layers')[0],
      seqLen: values.seq === undefined ? undefined : intList(values.seq, '--seq')[0],
      sequencesPerAdapter: intList(values.sequences!, '--sequences')[0]!,
      adapterCounts: intList(values.k ?? '1,8', '--k'),
      adapterModes,
      precisions,
      recompute: values.recompute === 'on',
      steps: intList(values.steps!, '--steps')[0]!,
      shape: values.shape === undefined ? undefined : parseShape(values.shape),
    };
    const cases = sftCases(sft); // validates models and shapes before a device is opened
    if (values['print-cases']) {
      console.log(JSON.stringify({ suite: 'sft', commit: __SEAL_COMMIT__, cases }, null, 2));
      return 0;
    }
  }
  if (!['bf16', 'f16', 'f32'].includes(values.weights!)) {
    console.error(`bench: --weights must be bf16, f16 or f32, not '${values.weights}'`);
    return 2;
  }
  const ctx = await createNodeContext({ adapter: values.adapter });
  const a = ctx.caps.adapter;
  const device = a.description || [a.vendor, a.architecture].filter(Boolean).join(' ') || 'unknown';
  console.log(`device: ${device}; features: ${JSON.stringify(ctx.features)}; commit ${__SEAL_COMMIT__}`);
  const started = new Date();
  const log = (l: string) => console.log(l);
  mkdirSync(values.out!, { recursive: true });
  const slug = device
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '')
    .slice(0, 40);
  const file = join(values.out!, `${suite}-${slug}-${started.toISOString().slice(0, 10)}.json`);
  let options: Record<string, unknown> = {};
  // The report is rewritten after every case (complete: false) and once at the end, so a run cut short (a device
  // lease, a timeout) keeps every case it finished: atomic and durable, and synchronous (on disk before the bench
  // goes on, as the case's progress line shows).
  const save = (results: unknown, complete: boolean) => {
    const report = {
      suite,
      date: started.toISOString(),
      commit: __SEAL_COMMIT__,
      runtime: `node ${process.version}`,
      device,
      adapter: a,
      features: ctx.features,
      subgroupSizes: [ctx.caps.subgroupMinSize, ctx.caps.subgroupMaxSize],
      subgroupMatrixConfigs: ctx.caps.subgroupMatrixConfigs,
      limits: { maxStorageBufferBindingSize: ctx.limits.maxStorageBufferBindingSize, maxBufferSize: ctx.limits.maxBufferSize },
      peakBandwidthGBs: devicePeak(device)?.bandwidthGBs ?? null,
      options,
      complete,
      results,
    };
    writeFileAtomicSync(file, `${JSON.stringify(report, null, 2)}\n`);
  };
  const onProgress = (partial: unknown) => save(partial, false);
  let results: unknown;
  if (suite === 'kernels') {
    options = { filter: values.filter ?? null, weights: values.weights, attentionHeads: values['attention-heads'] ?? null };
    results = await kernelBench(ctx, {
      filter: values.filter ? new RegExp(values.filter) : undefined,
      weights: values.weights as DType,
      attentionHeads: values['attention-heads'] ? Number(values['attention-heads']) : undefined,
      log,
      onProgress,
    });
  } else if (arc) {
    options = { ...arc, weights: 'bf16', timing: 'wall-clock, after a warm-up candidate' };
    results = await arcBench(ctx, { ...arc, log, onProgress });
  } else if (sft) {
    const maxSecondsPerCase = intList(values['max-seconds']!, '--max-seconds')[0]!;
    options = { ...sft, maxSecondsPerCase, weights: 'bf16', timing: 'wall-clock, synchronized steps' };
    results = await sftBench(ctx, { ...sft, maxSecondsPerCase, log, onProgress });
  } else {
    const o = {
      models: (values.models ?? Object.keys(HF_CONFIGS).join(',')).split(',').map((m) => m.trim()),
      layers: values.layers === undefined ? undefined : intList(values.layers, '--layers')[0],
      prefill: intList(values.prefill!, '--prefill'),
      batches: intList(values.batch!, '--batch'),
      context: intList(values.context!, '--context')[0]!,
      decodeSteps: intList(values['decode-steps']!, '--decode-steps')[0]!,
    };
    for (const m of o.models) if (!HF_CONFIGS[m]) throw new Error(`--models: unknown model '${m}' (available: ${Object.keys(HF_CONFIGS).join(', ')})`);
    options = { ...o, weights: 'bf16', timing: 'wall-clock' };
    results = await generateBench(ctx, { ...o, log, onProgress });
  }
  save(results, true);
  console.log(`wrote ${file}`);
  ctx.dispose();
  return 0;
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (e) {
  console.error(`bench: ${(e as Error).message}`);
  process.exitCode = 1;
}
process.exit(process.exitCode);
