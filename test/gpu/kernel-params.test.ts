/**
 * The kernel-parameter contract (src/gpu/kernel-contract.ts): the dispatch names its params and tensors, and the
 * recorder checks them against the preprocessed WGSL on a pipeline's first use. Every GPU test of an op therefore
 * checks its own dispatches; these tests check the checker and the invariants the recorder's packing relies on.
 */
import { describe, expect, it } from 'vitest';
import { contractMismatches, parseKernelContract } from '../../src/gpu/kernel-contract.ts';
import { preprocess, shaderSource } from '../../src/gpu/wgsl.ts';
import { rmsnormForward } from '../../src/ops/rmsnorm.ts';
import { WGSL_SOURCES } from '../../src/shaders.generated.ts';
import { testContext } from '../harness/context.ts';

describe('kernel contract', () => {
  it('reads params and bindings of one variant after preprocessing (rmsnorm forward and backward, read by hand)', () => {
    const forward = parseKernelContract(preprocess(shaderSource('rmsnorm'), {}, 'rmsnorm'));
    expect(forward.params).toEqual([
      { name: 'rows', type: 'u32' },
      { name: 'dim', type: 'u32' },
      { name: 'eps', type: 'f32' },
    ]);
    expect(forward.bindings.map((b) => `${b.index} ${b.name} ${b.access}`)).toEqual([
      '0 p uniform',
      '1 x read',
      '2 w read',
      '3 y read_write',
      '4 rstd read_write',
    ]);
    const backward = parseKernelContract(preprocess(shaderSource('rmsnorm'), { BACKWARD: true }, 'rmsnorm'));
    expect(backward.bindings.map((b) => `${b.index} ${b.name} ${b.access}`)).toEqual([
      '0 p uniform',
      '1 x read',
      '2 w read',
      '3 rstd read',
      '4 dy read',
      '5 dx read_write',
    ]);
  });

  it('every Params struct in shaders/ holds only 4-byte scalars (what the recorder packs), uniform at @binding(0)', () => {
    let structs = 0;
    for (const [name, source] of Object.entries(WGSL_SOURCES)) {
      if (!/struct\s+Params\b/.test(source)) continue;
      structs++;
      // The raw source (every #if branch at once) holds one Params struct; its fields are the same in each variant.
      const c = parseKernelContract(source.replace(/\{\{\w+\}\}/g, '99'));
      expect(c.params.length, name).toBeGreaterThan(0);
      for (const f of c.params) expect(['u32', 'i32', 'f32'], `${name}: Params.${f.name}`).toContain(f.type);
      for (const b of c.bindings.filter((b) => b.index === 0)) expect(b.access, `${name}: @binding(0) ${b.name}`).toBe('uniform');
    }
    expect(structs).toBeGreaterThan(15);
  });

  it('reports reordered, renamed, retyped and missing params and bindings (negative controls)', () => {
    const c = parseKernelContract(preprocess(shaderSource('rmsnorm'), {}, 'rmsnorm'));
    const tensors = ['x', 'w', 'y', 'rstd'];
    const params: [string, 'u32' | 'f32'][] = [
      ['rows', 'u32'],
      ['dim', 'u32'],
      ['eps', 'f32'],
    ];
    expect(contractMismatches(c, params, tensors)).toEqual([]);
    expect(contractMismatches(c, [params[1]!, params[0]!, params[2]!], tensors)).toEqual([
      'params are { rows: u32, dim: u32, eps: f32 } in WGSL but { dim: u32, rows: u32, eps: f32 } in the dispatch',
    ]);
    expect(contractMismatches(c, [params[0]!, params[1]!, ['eps', 'u32']], tensors)).toHaveLength(1);
    expect(contractMismatches(c, params.slice(0, 2), tensors)).toHaveLength(1);
    expect(contractMismatches(c, params, ['x', 'w', 'rstd', 'y'])).toEqual([
      'bindings are [1:x, 2:w, 3:y, 4:rstd] in WGSL but [1:x, 2:w, 3:rstd, 4:y] in the dispatch',
    ]);
    expect(contractMismatches(c, params, ['x', 'w', 'y'])).toHaveLength(1);
    expect(contractMismatches(c, [], tensors)).toHaveLength(2);
  });

  it('the recorder refuses a dispatch that does not match its shader, before anything runs; a matching one runs', async () => {
    const ctx = await testContext();
    const x = ctx.upload('f32', [2, 4], [1, 2, 3, 4, 5, 6, 7, 8]);
    const w = ctx.upload('f32', [4], [1, 1, 1, 1]);
    const y = ctx.empty('f32', [2, 4]);
    const rstd = ctx.empty('f32', [2]);
    const rec = ctx.recorder();
    // A constant the real op never uses, so this pipeline is new to the recorder and checked here.
    const kernel = { shader: 'rmsnorm', constants: { WG: 32 } };
    expect(() =>
      rec.dispatch({ kernel, params: { dim: ['u32', 4], rows: ['u32', 2], eps: ['f32', 1e-5] }, bindings: { x, w, y, rstd }, workgroups: [2] }),
    ).toThrow(/rmsnorm: the dispatch does not match the shader: params are \{ rows: u32, dim: u32, eps: f32 \} in WGSL but \{ dim: u32, rows: u32/);
    expect(() =>
      rec.dispatch({ kernel, params: { rows: ['u32', 2], dim: ['u32', 4], eps: ['f32', 1e-5] }, bindings: { x, w, rstd, y }, workgroups: [2] }),
    ).toThrow(/bindings are \[1:x, 2:w, 3:y, 4:rstd\] in WGSL but \[1:x, 2:w, 3:rstd, 4:y\]/);
    expect(rec.pending).toBe(0);
    rmsnormForward(rec, { x, weight: w, y, rstd, rows: 2, dim: 4, eps: 1e-5 });
    rec.submit();
    const out = await ctx.read(y);
    const r0 = 1 / Math.sqrt((1 + 4 + 9 + 16) / 4 + 1e-5);
    expect(out[0]).toBeCloseTo(1 * r0, 5);
    ctx.free(x, w, y, rstd);
  });
});
