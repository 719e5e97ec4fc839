/** The `seal` command line. */
import { parseArgs } from 'node:util';
import { createNodeContext, dawnFlags } from './device.ts';
import { doctor, formatDoctor } from './doctor.ts';
import { GpuUnavailableError } from '../src/gpu/errors.ts';

const USAGE = `seal — SEAL (self-adapting language models) on WebGPU

Usage:
  seal doctor [--json] [--adapter NAME] [--backend vulkan|metal|d3d12] [--disable-features f1,f2]
      Show the GPU adapter, its features and limits, the kernel paths that will be used, and run a self-test.
  seal help

Benchmarks: npm run bench -- kernels   (see README)`;

class UsageError extends Error {}

async function runDoctor(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      json: { type: 'boolean', default: false },
      adapter: { type: 'string' },
      backend: { type: 'string' },
      'disable-features': { type: 'string' },
    },
    strict: true,
  });
  const opts = {
    adapter: values.adapter,
    backend: values.backend,
    disableFeatures: values['disable-features']?.split(',').filter(Boolean),
  };
  const ctx = await createNodeContext(opts);
  try {
    const report = await doctor(ctx);
    if (values.json) console.log(JSON.stringify({ ...report, dawnFlags: dawnFlags(opts) }, null, 2));
    else console.log(formatDoctor(report));
    return report.selfTest.ok ? 0 : 1;
  } finally {
    ctx.dispose();
  }
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case 'doctor':
        return await runDoctor(rest);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        console.log(USAGE);
        return 0;
      default:
        throw new UsageError(`unknown command '${cmd}'`);
    }
  } catch (e) {
    if (e instanceof UsageError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      console.error(`seal: ${(e as Error).message}\n\n${USAGE}`);
      return 2;
    }
    if (e instanceof GpuUnavailableError) {
      console.error(`seal: ${e.message}`);
      return 3;
    }
    throw e;
  }
}
