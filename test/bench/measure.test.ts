/**
 * bench/gpu/measure.sh, the one-call GPU measurement, on this machine's adapter (lavapipe) at tiny sizes: the plan
 * (--dry-run) lists every stage with caps that fit one device call; bad caps are one `measure:` line; a real run
 * laid out as under the device tool ($OUT: stages packed into one archive, at most 8 files back) records every
 * stage (its stamped JSON, or why it timed out or was skipped: generate and arc are capped at 3 s on purpose,
 * their models take longer to build) and builds the summary from the stages' JSON.
 * Needs dist/ (npm run build): measure.sh runs the bundles.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { MEASURE_STAGES, type MeasureSummary } from '../../bench/gpu/summary.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'seal-measure-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function measure(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync('bash', ['bench/gpu/measure.sh', ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp', OUT: '', ...env },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('bench/gpu/measure.sh', () => {
  it('--dry-run prints every stage with caps that sum to at most 540 s, and runs nothing', () => {
    const out = join(tmp, 'dry');
    const r = measure(['--dry-run', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    const caps = MEASURE_STAGES.map((s) => {
      const m = r.stdout.match(new RegExp(`^ {2}${s} +cap +(\\d+)s {2}(.+)$`, 'm'));
      expect(m, `${s} in\n${r.stdout}`).not.toBeNull();
      return Number(m![1]);
    });
    expect(caps.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(540);
    expect(r.stdout).toMatch(/^ {2}sft-peft .*peft_sft\.py/m);
    expect(readdirSync(tmp)).not.toContain('dry');
  });

  it('refuses caps that do not fit one device call, or name no stage, with one measure: line', () => {
    for (const caps of ['kernels=500', 'kernel=5', 'arc=5s']) {
      const r = measure(['--dry-run', '--caps', caps]);
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/^measure: --caps: /);
    }
  });

  it('runs every stage under its cap, records each, and summarizes', { timeout: 400_000 }, () => {
    const out = join(tmp, 'OUT');
    const scratch = join(tmp, 'scratch');
    const caps = 'doctor=60,census=60,kernels=60,generate=3,sft=90,sft-peft=60,arc=3,knowledge=30';
    // As under the device tool: no --out, $OUT set; the stages live in $TMPDIR and come back as one archive.
    const r = measure(['--preset', 'tiny', '--caps', caps], { OUT: out, TMPDIR: scratch });
    expect(r.code, r.stderr).toBe(0);
    const back = readdirSync(out).sort();
    expect(back).toEqual(['measure.json', 'measure.log', 'stages.tar.gz', 'summary.json', 'summary.md']);
    const archived = spawnSync('tar', ['-tzf', join(out, 'stages.tar.gz')], { encoding: 'utf8' }).stdout;

    const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as MeasureSummary;
    expect(summary.device).toMatch(/llvmpipe/);
    expect(summary.driver).toMatch(/Mesa/);
    const status = Object.fromEntries(summary.stages.map((s) => [s.stage, s]));
    expect(Object.keys(status)).toEqual([...MEASURE_STAGES]);
    for (const s of ['doctor', 'census', 'kernels', 'sft'] as const) {
      expect(status[s]!.status, `${s}: ${status[s]!.reason}`).toBe('ok');
      expect(status[s]!.files.length).toBeGreaterThan(0);
      for (const f of status[s]!.files) {
        expect(archived).toContain(`stages/${f}`);
        const doc = JSON.parse(spawnSync('tar', ['-xzOf', join(out, 'stages.tar.gz'), `stages/${f}`], { encoding: 'utf8' }).stdout);
        expect(doc.measure).toEqual({ stage: s, device: summary.device, driver: summary.driver, commit: summary.commit, preset: 'tiny' });
      }
    }
    // Without the Llama-3.2 tokenizer beside the checkout the ARC stage cannot run, and says so.
    const tokenizer = existsSync(join(ROOT, '../shared/tokenizers/Llama-3.2-1B-Instruct/tokenizer.json'));
    if (!tokenizer) expect(status.arc!.reason).toMatch(/no Llama-3.2-1B-Instruct tokenizer/);
    for (const s of tokenizer ? (['generate', 'arc'] as const) : (['generate'] as const)) {
      expect(status[s]!.status).toBe('timed-out');
      expect(status[s]!.reason).toBe('stopped at its cap of 3 s (what it finished is kept)');
      expect(status[s]!.seconds).toBeGreaterThanOrEqual(3);
    }
    // The peer needs torch on a CUDA GPU, the knowledge stage a bench suite: each runs, or says why not.
    for (const s of ['sft-peft', 'knowledge'] as const) {
      expect(['ok', 'skipped']).toContain(status[s]!.status);
      if (status[s]!.status === 'skipped') expect(status[s]!.reason).toBeTruthy();
    }
    for (const s of MEASURE_STAGES) if (status[s]!.status !== 'skipped') expect(archived).toContain(`stages/${s}.log`);

    expect(summary.doctor?.selfTestOk).toBe(true);
    expect(summary.census.map((c) => c.case)).toEqual(['decode-b1']);
    expect(summary.census[0]!.dispatches).toBeGreaterThan(0);
    expect(summary.kernels.map((k) => k.case)).toEqual(['LoRA r=8 x·Aᵀ']);
    expect(summary.sft).toHaveLength(1);
    expect(summary.sft[0]!.tokensPerSecond).toBeGreaterThan(0);
    // lavapipe's peaks are unknown: no fraction is made up.
    expect(summary.sft[0]!.fractionOfPeak).toBeNull();
    expect(summary.kernels[0]!.fractionOfPeak).toBeNull();
    expect(summary.unreadable).toEqual([]);

    const md = readFileSync(join(out, 'summary.md'), 'utf8');
    expect(md).toMatch(/^\| generate \| timed-out \| \d+ \/ 3 \| stopped at its cap/m);
    expect(md).toMatch(/^\| Llama-3.2-1B \| decode-b1 \| \d+ \|/m);
    expect(readFileSync(join(out, 'measure.log'), 'utf8')).toMatch(/measure: done in \d+ s/);
  });
});
