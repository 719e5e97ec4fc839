/**
 * SHA-256 (pure TypeScript, incremental) against node:crypto and the FIPS vectors, and the model fingerprint: stable
 * across calls, copies and hashers, blind to the directory's path, sensitive to config, header and weight changes.
 */
import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fingerprintModelDir, hubSourceOf, nodeSha256 } from '../../runtime-node/run-dir.ts';
import { fingerprintModel, sameModel } from '../../src/seal/model-identity.ts';
import { Sha256, sha256Hex } from '../../src/seal/sha256.ts';
import { freshSeed, rng } from '../harness/numerics.ts';
import { sharedPath } from '../harness/shared.ts';

const tempDirs: string[] = [];
afterAll(() => {
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'seal-identity-'));
  tempDirs.push(d);
  return d;
}

describe('sha256', () => {
  it('matches the FIPS 180-2 vectors', () => {
    expect(sha256Hex('')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(sha256Hex('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq')).toBe('248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1');
  });

  it('equals node:crypto for random lengths around block boundaries, fed in random pieces', () => {
    const seed = freshSeed();
    const rand = rng(seed);
    for (const n of [1, 55, 56, 63, 64, 65, 119, 120, 127, 128, 129, 1000, 4096 + 17]) {
      const bytes = new Uint8Array(n).map(() => Math.floor(rand() * 256));
      const h = new Sha256();
      for (let i = 0; i < n; ) {
        const piece = 1 + Math.floor(rand() * 100);
        h.update(bytes.subarray(i, i + piece));
        i += piece;
      }
      expect(h.digestHex(), `n=${n} seed=${seed}`).toBe(createHash('sha256').update(bytes).digest('hex'));
    }
  });

  it('refuses use after the digest', () => {
    const h = new Sha256();
    h.digestHex();
    expect(() => h.update(new Uint8Array(1))).toThrow(/after digestHex/);
  });
});

describe('model fingerprint', () => {
  const model = sharedPath('models/stories260K');

  it('is stable, the same with the pure and node:crypto hashers, and blind to where the directory is', async () => {
    const a = await fingerprintModelDir(model);
    const b = await fingerprintModelDir(model);
    expect(a.fingerprint).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(b.fingerprint).toBe(a.fingerprint);
    expect(a.method).toBe('quick-v1');
    expect(a.files.map((f) => f.name)).toContain('config.json');
    expect(a.files.map((f) => f.name)).toContain('model.safetensors');
    expect(a.source.path).toBe(model);

    const copy = join(tempDir(), 'copy');
    cpSync(model, copy, { recursive: true });
    const c = await fingerprintModelDir(copy);
    expect(c.fingerprint).toBe(a.fingerprint);
    expect(sameModel(a, c)).toBe(true);
    expect(c.source.path).toBe(copy);

    const pure = await fingerprintModel({
      where: copy,
      text: async (name) => {
        try {
          return readFileSync(join(copy, name), 'utf8');
        } catch {
          return null;
        }
      },
      source: async (name) => {
        try {
          const bytes = readFileSync(join(copy, name));
          return { name, size: async () => bytes.byteLength, read: async (o: number, l: number) => new Uint8Array(bytes.subarray(o, o + l)) };
        } catch {
          return null;
        }
      },
    });
    expect(pure.fingerprint).toBe(a.fingerprint);
  });

  it("changes with the config, with a weight byte (quick samples each tensor's ends), and between methods", async () => {
    const base = await fingerprintModelDir(model);
    const full = await fingerprintModelDir(model, { method: 'full-v1' });
    expect(full.fingerprint).not.toBe(base.fingerprint);
    expect(sameModel(base, full)).toBe(false);

    const dir = join(tempDir(), 'edited');
    cpSync(model, dir, { recursive: true });
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, rms_norm_eps: 1e-6 }));
    expect((await fingerprintModelDir(dir)).fingerprint).not.toBe(base.fingerprint);

    cpSync(join(model, 'config.json'), join(dir, 'config.json'));
    expect((await fingerprintModelDir(dir)).fingerprint).toBe(base.fingerprint);
    // The last byte of the file is the end of the last tensor: quick and full both see it.
    const weights = readFileSync(join(dir, 'model.safetensors'));
    weights[weights.byteLength - 1]! ^= 0x01;
    writeFileSync(join(dir, 'model.safetensors'), weights);
    expect((await fingerprintModelDir(dir)).fingerprint).not.toBe(base.fingerprint);
    expect((await fingerprintModelDir(dir, { method: 'full-v1' })).fingerprint).not.toBe(full.fingerprint);
  });

  it('records the hub origin of a cache snapshot, and nothing for a local path', () => {
    const commit = 'a'.repeat(40);
    expect(hubSourceOf('meta-llama/Llama-3.2-1B-Instruct', `/cache/models--meta-llama--Llama-3.2-1B-Instruct/snapshots/${commit}`)).toEqual({
      repo: 'meta-llama/Llama-3.2-1B-Instruct',
      revision: 'main',
      commit,
    });
    expect(hubSourceOf('org/name@v2', `/c/snapshots/${commit}`)).toEqual({ repo: 'org/name', revision: 'v2', commit });
    expect(hubSourceOf(model, model)).toBeUndefined();
  });

  it('names what is missing', async () => {
    const dir = tempDir();
    await expect(fingerprintModelDir(dir)).rejects.toThrow(/config\.json is missing/);
    writeFileSync(join(dir, 'config.json'), '{}');
    await expect(fingerprintModelDir(dir)).rejects.toThrow(/no weights/);
    await expect(fingerprintModelDir(model, { method: 'md5' as never })).rejects.toThrow(/unknown fingerprint method/);
  });

  it('node:crypto factory agrees with the pure one on text', () => {
    const h = nodeSha256();
    h.update(new TextEncoder().encode('abc'));
    expect(h.digestHex()).toBe(sha256Hex('abc'));
  });
});
