/**
 * The benchmark driver: `npm run bench -- <suite> [options]` or, on a machine with only Node and the webgpu package,
 * `node dist/bench.mjs <suite> [options]`. Prints a table and writes JSON (adapter, features, commit) to bench/results/.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createNodeContext } from '../runtime-node/device.ts';
import type { DType } from '../src/gpu/dtype.ts';
import { kernelBench } from './kernels.ts';

const USAGE = `Usage: npm run bench -- kernels [--filter REGEX] [--weights bf16|f16|f32] [--attention-heads N] [--out DIR] [--adapter NAME]`;

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
      help: { type: 'boolean', default: false },
    },
  });
  const suite = positionals[0];
  if (values.help || !suite) {
    console.log(USAGE);
    return values.help ? 0 : 2;
  }
  if (suite !== 'kernels') {
    console.error(`bench: unknown suite '${suite}' (available: kernels)\n${USAGE}`);
    return 2;
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
  const results = await kernelBench(ctx, {
    filter: values.filter ? new RegExp(values.filter) : undefined,
    weights: values.weights as DType,
    attentionHeads: values['attention-heads'] ? Number(values['attention-heads']) : undefined,
    log: (l) => console.log(l),
  });
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
    options: { filter: values.filter ?? null, weights: values.weights, attentionHeads: values['attention-heads'] ?? null },
    results,
  };
  mkdirSync(values.out!, { recursive: true });
  const slug = device.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 40);
  const file = join(values.out!, `${suite}-${slug}-${started.toISOString().slice(0, 10)}.json`);
  writeFileSync(file, JSON.stringify(report, null, 2) + '\n');
  console.log(`wrote ${file}`);
  ctx.dispose();
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
process.exit(process.exitCode);
