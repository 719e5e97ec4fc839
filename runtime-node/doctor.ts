/** `seal doctor`: what the adapter offers, which kernel paths we take, and a tiny end-to-end kernel check. */
import type { GpuContext } from '../src/gpu/context.ts';
import { roundTo } from '../src/gpu/dtype.ts';
import { mulberry32 } from '../src/util/rng.ts';
import { kernelPaths, type KernelPaths } from '../src/ops/kernel-paths.ts';
import { matmul, subgroupMatrixPlan, type MatmulKernel } from '../src/ops/matmul.ts';
import { rmsnormForward } from '../src/ops/rmsnorm.ts';
import { UsageError } from './flags.ts';

export interface DoctorReport {
  adapter: GpuContext['caps']['adapter'];
  features: GpuContext['features'];
  adapterFeatures: { shaderF16: boolean; subgroups: boolean; subgroupMatrix: boolean; timestampQuery: boolean };
  subgroupSizes: [number, number];
  subgroupMatrixConfigs: GpuContext['caps']['subgroupMatrixConfigs'];
  limits: Record<string, number>;
  kernelPaths: KernelPaths;
  selfTest: SelfTest;
}

/** One matmul kernel run against an f64 CPU product. */
export interface MatmulCheck {
  /** The kernel, with '+scaleA' when A (~1e-6, under f16's normals) went through the power-of-two scaling. */
  kernel: string;
  /** NMSE against the f64 product, and the bound it must meet (f32 kernels 1e-9; those rounding A to f16 1e-4). */
  nmse: number;
  bound: number;
  ok: boolean;
}

export interface SelfTest {
  ok: boolean;
  /** RMSNorm's largest absolute error. */
  maxError: number;
  /** Every matmul kernel this device runs (the paths training and generation take), on an unaligned shape. */
  matmul: MatmulCheck[];
}

/**
 * The environment variable naming one matmul check of the self-test (as the report names it: 'portable',
 * 'f16+scaleA', ...) whose kernel is run wrong on purpose (MatmulArgs.fault 'drop-last-k': the last column of A
 * read as zero, NMSE ~1/K). It shows the self-test catches a wrong kernel: that check must fail, and the exit code.
 */
export const DOCTOR_FAULT_ENV = 'SEAL_DOCTOR_FAULT';

export interface DoctorOptions {
  /** A matmul check to break on purpose (see DOCTOR_FAULT_ENV); it must name one this device runs. */
  fault?: string;
}

/** Runs RMSNorm on a small input and compares with a CPU computation: proves the device computes, not just exists. */
async function rmsnormSelfTest(ctx: GpuContext): Promise<{ ok: boolean; maxError: number }> {
  const rows = 3,
    dim = 37;
  const x = Float32Array.from({ length: rows * dim }, (_, i) => Math.sin(i * 0.7));
  const w = Float32Array.from({ length: dim }, (_, i) => 0.5 + i / dim);
  const tx = ctx.upload('f32', [rows, dim], x),
    tw = ctx.upload('f32', [dim], w);
  const ty = ctx.empty('f32', [rows, dim]),
    tr = ctx.empty('f32', [rows]);
  ctx.fill(ty);
  const rec = ctx.recorder();
  rmsnormForward(rec, { x: tx, weight: tw, y: ty, rstd: tr, rows, dim, eps: 1e-5 });
  rec.submit();
  const y = await ctx.read(ty);
  let maxError = 0;
  for (let r = 0; r < rows; r++) {
    let ss = 0;
    for (let i = 0; i < dim; i++) ss += x[r * dim + i]! ** 2;
    const s = 1 / Math.sqrt(ss / dim + 1e-5);
    for (let i = 0; i < dim; i++) maxError = Math.max(maxError, Math.abs(y[r * dim + i]! - x[r * dim + i]! * s * w[i]!));
  }
  ctx.free(tx, tw, ty, tr);
  return { ok: maxError < 1e-5, maxError };
}

/**
 * Every matmul kernel the device offers on one unaligned problem (C = 0.5·A·Bᵀ + bias, bf16 B and bias), against
 * an f64 CPU product: the first run of a kernel on new hardware is checked before anything is timed on it.
 */
async function matmulChecks(ctx: GpuContext, fault: string | undefined): Promise<MatmulCheck[]> {
  const [M, N, K] = [67, 133, 129];
  const next = mulberry32(12345);
  const rand = () => (next() / 2 ** 32) * 2 - 1; // uniform in [-1, 1)
  const b = roundTo(Float32Array.from({ length: N * K }, rand), 'bf16');
  const bias = roundTo(Float32Array.from({ length: N }, rand), 'bf16');
  // For the scaled runs, a bias of the product's size (1e-6), so it does not hide the product's error; bf16 holds it.
  const smallBias = roundTo(
    bias.map((x) => x * 1e-6),
    'bf16',
  );
  const kernels: [MatmulKernel, number][] = [
    ['skinny', 1e-9],
    ['portable', 1e-9],
  ];
  if (ctx.features.shaderF16) kernels.push(['f16', 1e-4]);
  if (typeof subgroupMatrixPlan(ctx) !== 'string') kernels.push(['subgroup-matrix', 1e-4]);
  const runs: { kernel: MatmulKernel; bound: number; scaleA: boolean }[] = kernels.map(([kernel, bound]) => ({ kernel, bound, scaleA: false }));
  for (const [kernel, bound] of kernels) if (kernel === 'f16' || kernel === 'subgroup-matrix') runs.push({ kernel, bound, scaleA: true });
  const name = (run: { kernel: MatmulKernel; scaleA: boolean }) => run.kernel + (run.scaleA ? '+scaleA' : '');
  if (fault !== undefined && !runs.some((run) => name(run) === fault)) {
    throw new UsageError(`${DOCTOR_FAULT_ENV}=${fault} names no matmul check of this device; it runs ${runs.map(name).join(', ')}`);
  }
  const tb = ctx.upload('bf16', [N, K], b),
    tc = ctx.empty('f32', [M, N]);
  const tbias = ctx.upload('bf16', [N], bias),
    tsmall = ctx.upload('bf16', [N], smallBias);
  const out: MatmulCheck[] = [];
  try {
    for (const run of runs) {
      // Activations of order 1, or of order 1e-6 (a gradient of a mean loss) for the scaled runs.
      const a = Float32Array.from({ length: M * K }, () => rand() * (run.scaleA ? 1e-6 : 1));
      const ta = ctx.upload('f32', [M, K], a);
      try {
        ctx.fill(tc);
        const rec = ctx.recorder();
        const tBias = run.scaleA ? tsmall : tbias;
        const broken = name(run) === fault ? ({ fault: 'drop-last-k' } as const) : {};
        matmul(rec, { a: ta, b: tb, c: tc, M, N, K, transB: true, alpha: 0.5, bias: tBias, variant: run.kernel, scaleA: run.scaleA, ...broken });
        rec.submit();
        const c = await ctx.readF32(tc);
        let err = 0,
          ref = 0;
        for (let m = 0; m < M; m++) {
          for (let n = 0; n < N; n++) {
            let sum = 0;
            for (let k = 0; k < K; k++) sum += a[m * K + k]! * b[n * K + k]!;
            const want = 0.5 * sum + (run.scaleA ? smallBias : bias)[n]!;
            err += (c[m * N + n]! - want) ** 2;
            ref += want ** 2;
          }
        }
        const nmse = Number.isFinite(err) ? err / ref : Infinity;
        out.push({ kernel: name(run), nmse, bound: run.bound, ok: nmse <= run.bound });
      } finally {
        ctx.free(ta);
      }
    }
  } finally {
    ctx.free(tb, tbias, tsmall, tc);
  }
  return out;
}

async function fullSelfTest(ctx: GpuContext, options: DoctorOptions): Promise<SelfTest> {
  const rms = await rmsnormSelfTest(ctx);
  const mm = await matmulChecks(ctx, options.fault);
  return { ok: rms.ok && mm.every((m) => m.ok), maxError: rms.maxError, matmul: mm };
}

export async function doctor(ctx: GpuContext, options: DoctorOptions = {}): Promise<DoctorReport> {
  const c = ctx.caps;
  return {
    adapter: c.adapter,
    features: ctx.features,
    adapterFeatures: { shaderF16: c.shaderF16, subgroups: c.subgroups, subgroupMatrix: c.subgroupMatrix, timestampQuery: c.timestampQuery },
    subgroupSizes: [c.subgroupMinSize, c.subgroupMaxSize],
    subgroupMatrixConfigs: c.subgroupMatrixConfigs,
    limits: ctx.limits,
    kernelPaths: kernelPaths(ctx),
    selfTest: await fullSelfTest(ctx, options),
  };
}

const KEY_LIMITS = [
  'maxBufferSize',
  'maxStorageBufferBindingSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
  'minStorageBufferOffsetAlignment',
  'minUniformBufferOffsetAlignment',
];

const yes = (b: boolean) => (b ? 'yes' : 'no');
const mib = (n: number) => (n >= 2 ** 20 ? `${(n / 2 ** 20).toFixed(0)} MiB` : String(n));

export function formatDoctor(r: DoctorReport): string {
  const a = r.adapter;
  const lines = [
    `adapter       ${[a.vendor, a.architecture, a.description || a.device].filter(Boolean).join(' / ') || '(no info)'}${a.isFallback ? ' (software fallback)' : ''}`,
    `shader-f16    ${yes(r.features.shaderF16)}${r.adapterFeatures.shaderF16 === r.features.shaderF16 ? '' : ' (adapter has it, disabled)'}`,
    `subgroups     ${yes(r.features.subgroups)}${r.features.subgroups ? ` (size ${r.subgroupSizes[0]}..${r.subgroupSizes[1]})` : ''}`,
    `subgroup-matrix ${yes(r.features.subgroupMatrix)}${r.subgroupMatrixConfigs.length ? `: ${r.subgroupMatrixConfigs.map((m) => `${m.componentType}->${m.resultComponentType} ${m.M}x${m.N}x${m.K}`).join(', ')}` : ''}`,
    `timestamps    ${yes(r.features.timestampQuery)}`,
    'limits',
    ...KEY_LIMITS.filter((k) => k in r.limits).map(
      (k) => `  ${k.padEnd(36)} ${k.includes('Size') && !k.includes('Invocations') ? mib(r.limits[k]!) : r.limits[k]}`,
    ),
    'kernel paths',
    `  matmul (prefill, M=2048)  ${r.kernelPaths.matmulPrefill}`,
    `  matmul (decode, M<=32)    ${r.kernelPaths.matmulDecode}`,
    `  subgroup-matrix           ${r.kernelPaths.subgroupMatrix}`,
    `  portable kernels          ${r.kernelPaths.portable.join(', ')}`,
    `self-test     ${r.selfTest.ok ? 'ok' : 'FAILED'} (RMSNorm vs CPU, max error ${r.selfTest.maxError.toExponential(2)})`,
    ...r.selfTest.matmul.map((m) => `  matmul ${m.kernel.padEnd(24)} NMSE ${m.nmse.toExponential(2)} vs f64 (bound ${m.bound})${m.ok ? '' : '  FAILED'}`),
  ];
  return lines.join('\n');
}
