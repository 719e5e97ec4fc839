/** seal doctor's report: the self-test runs every matmul kernel the device offers against an f64 product. */
import { describe, expect, it } from 'vitest';
import { doctor, formatDoctor } from '../../runtime-node/doctor.ts';
import { subgroupMatrixPlan } from '../../src/ops/matmul.ts';
import { testContext } from '../harness/context.ts';

describe('seal doctor', () => {
  it('checks RMSNorm and each matmul kernel of this device (the f16-rounding ones also with scaled tiny activations)', async () => {
    const ctx = await testContext();
    const report = await doctor(ctx);
    const want = ['skinny', 'portable'];
    if (ctx.features.shaderF16) want.push('f16');
    if (typeof subgroupMatrixPlan(ctx) !== 'string') want.push('subgroup-matrix');
    for (const k of ['f16', 'subgroup-matrix']) if (want.includes(k)) want.push(`${k}+scaleA`);
    expect(report.selfTest.matmul.map((m) => m.kernel)).toEqual(want);
    for (const m of report.selfTest.matmul) expect(m.nmse, m.kernel).toBeLessThanOrEqual(m.bound);
    expect(report.selfTest.ok).toBe(true);
    const text = formatDoctor(report);
    expect(text).toMatch(/^self-test {5}ok \(RMSNorm vs CPU/m);
    for (const k of want) expect(text).toContain(`matmul ${k}`);
    expect(text).not.toContain('FAILED');
  });

  it('without shader-f16 only the f32 kernels are checked', async () => {
    const ctx = await testContext({ disableFeatures: ['shader-f16'] });
    const report = await doctor(ctx);
    expect(report.selfTest.matmul.map((m) => m.kernel)).toEqual(['skinny', 'portable']);
    expect(report.selfTest.ok).toBe(true);
  });
});
