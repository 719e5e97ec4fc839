/**
 * `npm run bench -- kernels`: matmul GFLOP/s (4096^3; the real Llama-3.2-1B / Qwen2.5-7B projections at prefill and decode
 * sizes; LoRA shapes) and attention forward/backward at T = 2048 and 8192, each as a fraction of the device's peak when
 * known. A benchmark, not a test: it checks nothing and never fails on speed.
 */
import type { GpuContext } from '../src/gpu/context.ts';
import type { DType } from '../src/gpu/dtype.ts';
import type { Tensor } from '../src/gpu/tensor.ts';
import { matmul, matmulFlops, matmulVariant, type MatmulArgs } from '../src/ops/matmul.ts';
import { attentionBackward, attentionFlops, attentionForward, attentionScratch } from '../src/ops/attention.ts';
import { devicePeak } from './peaks.ts';
import { LLAMA_3_2_1B, QWEN_2_5_7B, projections, type ModelShape } from './shapes.ts';
import { measure } from './timing.ts';

export interface KernelResult {
  kernel: string;
  case: string;
  shape: Record<string, number | string>;
  variant?: string;
  ms?: number;
  tflops?: number;
  /** Fraction of the relevant peak: FP32 ALU peak for paths without matrix units, tensor peak for subgroup-matrix. */
  fractionOfPeak?: number;
  timing?: string;
  skipped?: string;
}

export interface KernelBenchOptions {
  filter?: RegExp;
  /** Weight dtype for the projections. */
  weights: DType;
  /** Attention heads to run (default: the model's). Software adapters take minutes per case at full size. */
  attentionHeads?: number;
  /** Called with the results so far after each case (the caller saves them: a run cut short keeps its finished cases). */
  onProgress?: (results: KernelResult[]) => void;
  log: (line: string) => void;
}

function fits(ctx: GpuContext, dtype: DType, ...dims: number[]): string | null {
  const n = dims.reduce((a, b) => a * b, 1);
  const bytes = dtype === 'f32' || dtype === 'u32' ? n * 4 : n * 2;
  const max = ctx.limits.maxStorageBufferBindingSize ?? 0;
  return bytes > max
    ? `a ${dims.join('x')} ${dtype} tensor (${(bytes / 2 ** 20).toFixed(0)} MiB) exceeds maxStorageBufferBindingSize (${(max / 2 ** 20).toFixed(0)} MiB)`
    : null;
}

/** Random-ish contents are irrelevant to speed; fill with a constant pattern so inputs are finite. */
function filled(ctx: GpuContext, dtype: DType, shape: number[]): Tensor {
  const t = ctx.empty(dtype, shape);
  ctx.fill(t, dtype === 'f32' ? 0x3c23d70a /* 0.01 */ : 0x211f211f /* small 16-bit values */);
  return t;
}

async function benchMatmul(
  ctx: GpuContext,
  name: string,
  args: Omit<MatmulArgs, 'a' | 'b' | 'c'>,
  bDtype: DType,
  _options: KernelBenchOptions,
): Promise<KernelResult> {
  const { M, N, K, transA, transB } = args;
  const shape = { M, N, K, transA: transA ? 1 : 0, transB: transB ? 1 : 0, b: bDtype };
  const res: KernelResult = { kernel: 'matmul', case: name, shape };
  const tooBig = fits(ctx, bDtype, N, K) ?? fits(ctx, 'f32', M, Math.max(N, K));
  if (tooBig) return { ...res, skipped: tooBig };
  const a = filled(ctx, 'f32', transA ? [K, M] : [M, K]);
  const b = filled(ctx, bDtype, transB ? [N, K] : [K, N]);
  const c = ctx.empty('f32', [M, N]);
  try {
    const full = { ...args, a, b, c } as MatmulArgs;
    const m = await measure(ctx, (rec) => matmul(rec, full));
    const tflops = matmulFlops(M, N, K) / (m.ms * 1e-3) / 1e12;
    const variant = matmulVariant(ctx, full);
    const peak = devicePeak(ctx.caps.adapter.description);
    const ref = peak ? (variant === 'subgroup-matrix' ? peak.tensorTflops : peak.fp32Tflops) : undefined;
    return { ...res, variant, ms: m.ms, tflops, fractionOfPeak: ref ? tflops / ref : undefined, timing: m.source };
  } finally {
    ctx.free(a, b, c);
  }
}

async function benchAttention(ctx: GpuContext, m: ModelShape, T: number, o: KernelBenchOptions): Promise<KernelResult[]> {
  const Hq = o.attentionHeads ?? m.heads;
  const Hkv = Math.max(1, Math.round(Hq / (m.heads / m.kvHeads)));
  const D = m.headDim;
  const shape = { T, Hq, Hkv, D, model: m.name };
  const tooBig = fits(ctx, 'f32', T, Hq, D);
  if (tooBig) return [{ kernel: 'attention', case: `${m.name} fwd T=${T}`, shape, skipped: tooBig }];
  const q = filled(ctx, 'f32', [T, Hq, D]),
    out = ctx.empty('f32', [T, Hq, D]),
    dOut = filled(ctx, 'f32', [T, Hq, D]);
  const k = filled(ctx, 'f32', [T, Hkv, D]),
    v = filled(ctx, 'f32', [T, Hkv, D]);
  const dq = ctx.empty('f32', [T, Hq, D]),
    dk = ctx.empty('f32', [T, Hkv, D]),
    dv = ctx.empty('f32', [T, Hkv, D]);
  const lse = ctx.empty('f32', [Hq, T]);
  const seqStart = ctx.upload('u32', [T], new Uint32Array(T));
  const scratch = attentionScratch(ctx, { T, Hq });
  const peak = devicePeak(ctx.caps.adapter.description);
  const results: KernelResult[] = [];
  try {
    const fwd = { q, k, v, out, lse, seqStart, T, Hq, Hkv, D };
    const mf = await measure(ctx, (rec) => attentionForward(rec, fwd), { maxIters: 10 });
    const ff = attentionFlops(T, Hq, D).forward / (mf.ms * 1e-3) / 1e12;
    results.push({
      kernel: 'attention',
      case: `${m.name} fwd T=${T}`,
      shape,
      variant: 'portable',
      ms: mf.ms,
      tflops: ff,
      fractionOfPeak: peak ? ff / peak.fp32Tflops : undefined,
      timing: mf.source,
    });
    o.log(line(results[results.length - 1]!));
    const mb = await measure(ctx, (rec) => attentionBackward(rec, { ...fwd, dOut, dq, dk, dv, scratch }), { maxIters: 10 });
    const fb = attentionFlops(T, Hq, D).backward / (mb.ms * 1e-3) / 1e12;
    results.push({
      kernel: 'attention',
      case: `${m.name} bwd T=${T}`,
      shape,
      variant: 'portable',
      ms: mb.ms,
      tflops: fb,
      fractionOfPeak: peak ? fb / peak.fp32Tflops : undefined,
      timing: mb.source,
    });
  } finally {
    ctx.free(q, out, dOut, k, v, dq, dk, dv, lse, seqStart, ...Object.values(scratch));
  }
  return results;
}

export function line(r: KernelResult): string {
  const head = `${r.kernel.padEnd(9)} ${r.case.padEnd(40)}`;
  if (r.skipped) return `${head} skipped: ${r.skipped}`;
  const frac = r.fractionOfPeak !== undefined ? ` ${(100 * r.fractionOfPeak).toFixed(1).padStart(5)}% of peak` : '';
  return `${head} ${r.ms!.toFixed(3).padStart(10)} ms ${(r.tflops! * 1e3).toFixed(1).padStart(9)} GFLOP/s${frac}  [${r.variant}]`;
}

export async function kernelBench(ctx: GpuContext, o: KernelBenchOptions): Promise<KernelResult[]> {
  const out: KernelResult[] = [];
  const want = (name: string) => !o.filter || o.filter.test(name);
  const push = (r: KernelResult) => {
    out.push(r);
    o.onProgress?.(out);
    o.log(line(r));
  };
  const w = o.weights;
  if (want('matmul 4096^3')) push(await benchMatmul(ctx, `4096^3 ${w} weights`, { M: 4096, N: 4096, K: 4096, transB: true }, w, o));
  for (const m of [LLAMA_3_2_1B, QWEN_2_5_7B]) {
    for (const [proj, N, K] of projections(m)) {
      for (const M of [2048, 1, 8, 32]) {
        const name = `${m.name} ${proj} M=${M}`;
        if (want(`matmul ${name}`)) push(await benchMatmul(ctx, name, { M, N, K, transB: true }, w, o));
      }
    }
  }
  // LoRA on a 2048-wide projection at 2048 tokens: down (x·Aᵀ), up (h·Bᵀ), and the two weight gradients (transA forms).
  for (const r of [8, 32, 128]) {
    const H = LLAMA_3_2_1B.hidden,
      T = 2048;
    const cases: [string, Omit<MatmulArgs, 'a' | 'b' | 'c'>][] = [
      [`LoRA r=${r} x·Aᵀ`, { M: T, N: r, K: H, transB: true }],
      [`LoRA r=${r} h·Bᵀ`, { M: T, N: H, K: r, transB: true }],
      [`LoRA r=${r} dA=dHᵀ·x`, { M: r, N: H, K: T, transA: true }],
      [`LoRA r=${r} dB=dYᵀ·h`, { M: H, N: r, K: T, transA: true }],
    ];
    for (const [name, args] of cases) if (want(`matmul ${name}`)) push(await benchMatmul(ctx, name, args, 'f32', o));
  }
  for (const m of [LLAMA_3_2_1B, QWEN_2_5_7B]) {
    for (const T of [2048, 8192]) {
      if (!want(`attention ${m.name} T=${T}`)) continue;
      const rs = await benchAttention(ctx, m, T, o);
      out.push(...rs);
      o.onProgress?.(out);
      o.log(line(rs[rs.length - 1]!));
    }
  }
  return out;
}
