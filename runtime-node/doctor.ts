/** `seal doctor`: what the adapter offers, which kernel paths we take, and a tiny end-to-end kernel check. */
import type { GpuContext } from '../src/gpu/context.ts';
import { kernelPaths, type KernelPaths } from '../src/ops/kernel-paths.ts';
import { rmsnormForward } from '../src/ops/rmsnorm.ts';

export interface DoctorReport {
  adapter: GpuContext['caps']['adapter'];
  features: GpuContext['features'];
  adapterFeatures: { shaderF16: boolean; subgroups: boolean; subgroupMatrix: boolean; timestampQuery: boolean };
  subgroupSizes: [number, number];
  subgroupMatrixConfigs: GpuContext['caps']['subgroupMatrixConfigs'];
  limits: Record<string, number>;
  kernelPaths: KernelPaths;
  selfTest: { ok: boolean; maxError: number };
}

/** Runs RMSNorm on a small input and compares with a CPU computation: proves the device computes, not just exists. */
async function selfTest(ctx: GpuContext): Promise<{ ok: boolean; maxError: number }> {
  const rows = 3, dim = 37;
  const x = Float32Array.from({ length: rows * dim }, (_, i) => Math.sin(i * 0.7));
  const w = Float32Array.from({ length: dim }, (_, i) => 0.5 + i / dim);
  const tx = ctx.upload('f32', [rows, dim], x), tw = ctx.upload('f32', [dim], w);
  const ty = ctx.empty('f32', [rows, dim]), tr = ctx.empty('f32', [rows]);
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

export async function doctor(ctx: GpuContext): Promise<DoctorReport> {
  const c = ctx.caps;
  return {
    adapter: c.adapter,
    features: ctx.features,
    adapterFeatures: { shaderF16: c.shaderF16, subgroups: c.subgroups, subgroupMatrix: c.subgroupMatrix, timestampQuery: c.timestampQuery },
    subgroupSizes: [c.subgroupMinSize, c.subgroupMaxSize],
    subgroupMatrixConfigs: c.subgroupMatrixConfigs,
    limits: ctx.limits,
    kernelPaths: kernelPaths(ctx),
    selfTest: await selfTest(ctx),
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
    `subgroup-matrix ${yes(r.features.subgroupMatrix)}${r.subgroupMatrixConfigs.length ? ': ' + r.subgroupMatrixConfigs.map((m) => `${m.componentType}->${m.resultComponentType} ${m.M}x${m.N}x${m.K}`).join(', ') : ''}`,
    `timestamps    ${yes(r.features.timestampQuery)}`,
    'limits',
    ...KEY_LIMITS.filter((k) => k in r.limits).map((k) => `  ${k.padEnd(36)} ${k.includes('Size') && !k.includes('Invocations') ? mib(r.limits[k]!) : r.limits[k]}`),
    'kernel paths',
    `  matmul (prefill, M=2048)  ${r.kernelPaths.matmulPrefill}`,
    `  matmul (decode, M<=32)    ${r.kernelPaths.matmulDecode}`,
    `  subgroup-matrix           ${r.kernelPaths.subgroupMatrix}`,
    `  portable kernels          ${r.kernelPaths.portable.join(', ')}`,
    `self-test     ${r.selfTest.ok ? 'ok' : 'FAILED'} (RMSNorm vs CPU, max error ${r.selfTest.maxError.toExponential(2)})`,
  ];
  return lines.join('\n');
}
