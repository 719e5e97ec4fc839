/** seal doctor's report: the self-test runs every matmul kernel the device offers against an f64 product. */
import { describe, expect, it } from 'vitest';
import { doctor, formatDoctor } from '../../runtime-node/doctor.ts';
import { UsageError } from '../../runtime-node/flags.ts';
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

  it('a kernel broken on purpose (the last column of A read as zero) fails its check, and only its check', async () => {
    // One kernel: each broken variant is one more shader for lavapipe to compile (13 s cold for skinny, the cheapest;
    // 25-40 s for the tiled ones). test/cli/doctor-cli.test.ts breaks the same one, so it finds it compiled.
    const report = await doctor(await testContext(), { fault: 'skinny' });
    for (const m of report.selfTest.matmul) {
      if (m.kernel !== 'skinny') expect(m.ok, `${m.kernel} with skinny broken`).toBe(true);
      // Dropping one of K = 129 products of similar size loses ~1/129 of the sum's energy: NMSE near 7e-3, far above
      // the bound (1e-9), so this is the fault and not rounding.
      else expect(m.nmse).toBeGreaterThan(1e-3);
    }
    expect(report.selfTest.ok).toBe(false);
    const text = formatDoctor(report);
    expect(text).toMatch(/^self-test {5}FAILED/m);
    expect(text).toMatch(/^ {2}matmul skinny +NMSE \d\.\d+e-\d+ vs f64 \(bound 1e-9\) +FAILED$/m);
    expect(text.match(/FAILED$/gm)?.length).toBe(1);
  });

  it('a fault naming no kernel of this device is a usage error', async () => {
    const ctx = await testContext();
    await expect(doctor(ctx, { fault: 'no-such-kernel' })).rejects.toThrow(UsageError);
    await expect(doctor(ctx, { fault: 'no-such-kernel' })).rejects.toThrow(
      /SEAL_DOCTOR_FAULT=no-such-kernel names no matmul check of this device; it runs skinny, portable/,
    );
  });

  it('without shader-f16 only the f32 kernels are checked', async () => {
    const ctx = await testContext({ disableFeatures: ['shader-f16'] });
    const report = await doctor(ctx);
    expect(report.selfTest.matmul.map((m) => m.kernel)).toEqual(['skinny', 'portable']);
    expect(report.selfTest.ok).toBe(true);
  });
});
