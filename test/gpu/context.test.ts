import { describe, expect, it } from 'vitest';
import { DeviceLostError, GpuValidationError } from '../../src/gpu/errors.ts';
import { roundTo } from '../../src/gpu/dtype.ts';
import { fold1d } from '../../src/gpu/recorder.ts';
import { sizeClass } from '../../src/gpu/buffer-pool.ts';
import { expectedRuntime, freshContext, runtimeName, testContext } from '../harness/context.ts';
import { rmsnormForward } from '../../src/ops/rmsnorm.ts';

describe('GPU context', () => {
  it('runs on the runtime the test command asked for, with a real adapter', async () => {
    const ctx = await testContext();
    const want = expectedRuntime();
    if (want) expect(runtimeName()).toBe(want);
    expect(ctx.caps.limits.maxStorageBufferBindingSize).toBeGreaterThan(0);
    console.log(`[${runtimeName()}] adapter: ${JSON.stringify(ctx.caps.adapter)} features: ${JSON.stringify(ctx.features)}`);
  });

  it('uploads and reads back every dtype exactly', async () => {
    const ctx = await testContext();
    const vals = [0, 1, -2.5, 3.140625, 65504, -1e-3, 7];
    const f32 = ctx.upload('f32', [7], vals);
    expect(Array.from(await ctx.read(f32))).toEqual(Array.from(Float32Array.from(vals)));
    const bf = ctx.upload('bf16', [7], vals);
    // 65504 and -1e-3 are not representable in bf16; the readback must equal the rounded upload exactly.
    expect(Array.from(await ctx.read(bf))).toEqual(Array.from(roundTo(vals, 'bf16')));
    expect(Array.from(roundTo(vals, 'bf16')).slice(0, 5)).toEqual([0, 1, -2.5, 3.140625, 65536]);
    const h = ctx.upload('f16', [7], vals);
    expect(Array.from(await ctx.read(h))).toEqual(Array.from(roundTo(vals, 'f16')));
    const u = ctx.upload('u32', [3], [0, 4294967295, 12345]);
    expect(Array.from(await ctx.read(u))).toEqual([0, 4294967295, 12345]);
    const i = ctx.upload('i32', [2], [-7, 2147483647]);
    expect(Array.from(await ctx.read(i))).toEqual([-7, 2147483647]);
    ctx.free(f32, bf, h, u, i);
  });

  it('reuses pooled buffers by size class', async () => {
    const ctx = await testContext();
    const a = ctx.empty('f32', [1000]);
    const buf = a.buffer;
    ctx.free(a);
    const b = ctx.empty('f32', [1010]);
    expect(b.buffer).toBe(buf);
    ctx.free(b);
    expect(sizeClass(1)).toBe(256);
    expect(sizeClass(5000)).toBe(8192);
    expect(sizeClass(3 * 2 ** 20 + 1)).toBeLessThan(4 * 2 ** 20);
  });

  it('folds grids over 65535 workgroups and computes every row', async () => {
    expect(fold1d(10)).toEqual([10, 1]);
    const [fx, fy] = fold1d(200_000);
    expect(fx).toBeLessThanOrEqual(65535);
    expect(fx * fy).toBeGreaterThanOrEqual(200_000);
    const ctx = await testContext();
    const rows = 70_000,
      dim = 2;
    const t = ctx.upload('f32', [rows, dim], new Float32Array(rows * dim).fill(3));
    const w = ctx.upload('f32', [dim], [1, 2]);
    const out = ctx.empty('f32', [rows, dim]),
      rs = ctx.empty('f32', [rows]);
    ctx.fill(out);
    const rec = ctx.recorder();
    // The RMSNorm kernel as rmsnormForward dispatches it, but 4 invocations per workgroup instead of 128: the folded
    // grid is the same, and SwiftShader runs 70,000 workgroups of 128 for two minutes.
    rec.dispatch({
      kernel: { shader: 'rmsnorm', constants: { WG: 4 } },
      params: { rows: ['u32', rows], dim: ['u32', dim], eps: ['f32', 0] },
      bindings: { x: t, w, y: out, rstd: rs },
      workgroups: fold1d(rows),
    });
    rec.submit();
    const y = await ctx.read(out);
    // x = 3 everywhere, so every row normalises to the weight [1, 2]: a row the folded grid missed keeps NaN.
    const wrong = Array.from({ length: rows }, (_, r) => r).filter((r) => Math.abs(y[2 * r]! - 1) > 1e-6 || Math.abs(y[2 * r + 1]! - 2) > 1e-6);
    expect(wrong.slice(0, 5), `${wrong.length} rows wrong`).toEqual([]);
    ctx.free(t, w, out, rs);
  });

  it('refuses a workgroup count over the limit with a clear error', async () => {
    const ctx = await testContext();
    const rec = ctx.recorder();
    const x = ctx.empty('f32', [4]);
    expect(() => rec.dispatch({ kernel: { shader: 'rmsnorm' }, bindings: { x }, workgroups: [70_000] })).toThrow(/fold the grid/);
    ctx.free(x);
  });

  it('profiles each dispatch with timestamp queries where offered', async () => {
    const ctx = await testContext();
    const rec = ctx.recorder({ profile: true });
    if (!ctx.features.timestampQuery) {
      expect(rec.profile).toBe(false);
      await expect(rec.timings()).rejects.toThrow(/timestamp-query/);
      return;
    }
    const x = ctx.upload('f32', [4, 8], new Float32Array(32).fill(1));
    const w = ctx.upload('f32', [8], new Float32Array(8).fill(1));
    const y = ctx.empty('f32', [4, 8]),
      rs = ctx.empty('f32', [4]);
    rmsnormForward(rec, { x, weight: w, y, rstd: rs, rows: 4, dim: 8, eps: 1e-5 });
    rmsnormForward(rec, { x, weight: w, y, rstd: rs, rows: 4, dim: 8, eps: 1e-5 });
    rec.submit();
    const t = await rec.timings();
    expect(t.map((e) => e.label)).toEqual(['rmsnorm:main', 'rmsnorm:main']);
    for (const e of t) expect(e.ms).toBeGreaterThanOrEqual(0);
    ctx.free(x, w, y, rs);
  });

  it('reports WebGPU validation errors instead of returning garbage', async () => {
    const ctx = await freshContext();
    const x = ctx.empty('f32', [4]);
    // A shader that does not compile: the pipeline is invalid and the next readback must throw.
    ctx.device.createShaderModule({ code: 'this is not WGSL' });
    await expect(ctx.read(x)).rejects.toThrow(GpuValidationError);
    ctx.dispose();
  });

  it('turns device loss into an error, never a hang', async () => {
    const ctx = await freshContext();
    const x = ctx.upload('f32', [4], [1, 2, 3, 4]);
    ctx.device.destroy();
    const err = await ctx.lost;
    expect(err).toBeInstanceOf(DeviceLostError);
    expect(err.message).toMatch(/device lost/);
    await expect(ctx.read(x)).rejects.toThrow(DeviceLostError);
    const rec = ctx.recorder();
    rec.clear(x);
    expect(() => rec.submit()).toThrow(DeviceLostError);
  });
});
