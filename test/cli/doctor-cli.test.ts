/** `seal doctor`'s exit code follows its self-test: a kernel broken on purpose (SEAL_DOCTOR_FAULT) fails it. */
import { describe, expect, it } from 'vitest';
import { expectCleanFailure, seal, sealWithEnv } from '../harness/cli.ts';

describe('seal doctor (CLI)', () => {
  it('exits 0 when every check passes', () => {
    const r = seal('doctor');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^self-test {5}ok /m);
    expect(r.stdout).not.toContain('FAILED');
  });

  it('with SEAL_DOCTOR_FAULT=skinny prints the failing kernel with its NMSE and exits 1', () => {
    const r = sealWithEnv({ SEAL_DOCTOR_FAULT: 'skinny' }, 'doctor');
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout).toMatch(/^self-test {5}FAILED /m);
    // One of K = 129 products dropped: NMSE ~1/129.
    const failed = r.stdout.split('\n').filter((l) => l.endsWith('FAILED'));
    expect(failed).toHaveLength(1);
    const m = failed[0]!.match(/^ {2}matmul skinny +NMSE (\S+) vs f64 \(bound 1e-9\) +FAILED$/);
    expect(m, failed[0]).not.toBeNull();
    expect(Number(m![1])).toBeGreaterThan(1e-3);
    expect(r.stderr).not.toMatch(/^\s+at /m);
  });

  it('a SEAL_DOCTOR_FAULT naming no kernel of the device is a usage error', () => {
    const r = sealWithEnv({ SEAL_DOCTOR_FAULT: 'nope' }, 'doctor');
    expectCleanFailure(r, 2, /^seal: SEAL_DOCTOR_FAULT=nope names no matmul check of this device; it runs skinny, portable/);
  });
});
