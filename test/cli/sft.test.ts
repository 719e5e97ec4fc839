/**
 * `seal sft` run as a child process (node bin/seal.mjs, the built bundle) on stories260K: it writes a PEFT
 * adapter, a loss log and the initial adapter; the saved adapter, applied by `seal logits --adapter`, reproduces
 * the story greedily; every bad input exits with one clear `seal:` line and leaves no adapter behind. No GPU work
 * in this process: every kernel compiles in the child processes only (the file stays fast with a cold cache).
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadAdapterDir } from '../../runtime-node/adapter-files.ts';
import { EXIT } from '../../runtime-node/exit-codes.ts';
import { loadModelTokenizer } from '../../runtime-node/model-dir.ts';
import { LORA_TARGETS, resolveLoraConfig } from '../../src/lora/config.ts';
import { initLoraWeights, type LoraHostWeights } from '../../src/lora/host-weights.ts';
import { parseModelConfig } from '../../src/model/config.ts';
import { sharedPath } from '../harness/shared.ts';
import { NODE, expectCleanFailure, seal } from '../harness/cli.ts';
import { snapshot } from '../harness/snapshot.ts';
import { STORY, STORY_START, STORY_TRAINING } from '../train/sft-fixtures.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

const flat = (w: LoraHostWeights) => w.modules.flatMap((m) => [...m.a, ...m.b]);

/** `seal sft` in the background, sent SIGINT once its first step's progress line is on stderr. */
function sftInterruptedAfterFirstStep(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((done, fail) => {
    const child = spawn(NODE, [join(ROOT, 'bin/seal.mjs'), 'sft', ...args], {
      env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    let sent = false;
    child.stderr!.on('data', (d) => {
      stderr += d;
      if (!sent && /step 1\/\d+ /.test(stderr)) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    child.on('error', fail);
    child.on('close', (code) => done({ code, stderr }));
  });
}

describe('seal sft (stories260K)', () => {
  let model: string;
  const dir = mkdtempSync(join(tmpdir(), 'seal-sft-cli-'));
  const data = join(dir, 'story.jsonl');
  beforeAll(() => {
    model = sharedPath('models/stories260K');
    writeFileSync(data, `${JSON.stringify({ text: STORY })}\n`);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('trains, logs every step and saves the initial and trained adapters; seal logits --adapter reproduces the story greedily', async () => {
    const out = join(dir, 'adapter');
    const { rank, alpha, lr, maxSteps, schedule } = STORY_TRAINING;
    const r = seal(
      'sft',
      '--model',
      model,
      '--data',
      data,
      '--out',
      out,
      '--targets',
      'all',
      '--rank',
      String(rank),
      '--alpha',
      String(alpha),
      '--lr',
      String(lr),
      '--max-steps',
      String(maxSteps),
      '--schedule',
      schedule,
      '--seed',
      '7',
      '--save-init',
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/saved adapter to .*adapter \(12 steps, 12\.00 epochs, final loss 0\.0\d+/);
    expect(r.stderr).toMatch(/step 12\/12 .*loss 0\.0\d+ .* tok\/s/);
    expect(readdirSync(out).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors', 'init', 'loss.jsonl']);
    const log = readFileSync(join(out, 'loss.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, number>);
    expect(log.map((l) => l.step)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    expect(Object.keys(log[0]!)).toEqual(['step', 'epoch', 'loss', 'lr', 'grad_norm', 'tokens', 'trained_tokens', 'tokens_per_second', 'elapsed_s']);
    expect(log.every((l) => l.lr === lr && l.tokens === 102 && l.trained_tokens === 101)).toBe(true);
    expect(log[0]!.loss).toBeGreaterThan(1);
    expect(log[11]!.loss).toBeLessThan(0.1);

    // init/ is PEFT's initialisation from the seed (B = 0), bit for bit; the trained adapter parses for the model.
    const config = parseModelConfig(JSON.parse(readFileSync(join(model, 'config.json'), 'utf8')));
    const lora = resolveLoraConfig({ targets: [...LORA_TARGETS], rank, alpha });
    const init = await loadAdapterDir(join(out, 'init'), config);
    expect(flat(init)).toEqual(flat(initLoraWeights(config, lora, { seed: 7 })));
    const saved = await loadAdapterDir(out, config);
    expect(saved.baseModel).toBe(model.replace(/\/$/, ''));
    expect(saved.config).toEqual(lora);
    expect(flat(saved)).not.toEqual(flat(init));

    // The saved adapter through the inference path (seal logits --adapter): greedy decoding from the story's first
    // words reproduces it, i.e. at every position past the prompt the argmax is the story's next token.
    // (That the reloaded adapter gives bit-identical logits in the training graph: test/train/sft-stories.test.ts.)
    const tokenizer = await loadModelTokenizer(model);
    const ids = [...tokenizer.encode(STORY), 2];
    // stdout goes to a file: bin/seal.mjs exits right after main() returns, which cuts ~1 MB written to a pipe.
    const logitsFile = join(dir, 'logits.json');
    const fd = openSync(logitsFile, 'w');
    const cli = spawnSync(NODE, [join(ROOT, 'bin/seal.mjs'), 'logits', '--model', model, '--ids', ids.join(','), '--adapter', out], {
      stdio: ['ignore', fd, 'pipe'],
      encoding: 'utf8',
      env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' },
    });
    closeSync(fd);
    expect(cli.status, cli.stderr).toBe(0);
    const rows = (JSON.parse(readFileSync(logitsFile, 'utf8')) as { logits: number[][] }).logits;
    expect(rows.length).toBe(ids.length);
    const prompt = tokenizer.encode(STORY_START).length;
    const argmax = (row: readonly number[]) => row.reduce((best, v, j) => (v > row[best]! ? j : best), 0);
    const greedy = rows.slice(prompt - 1, ids.length - 2).map(argmax);
    expect(tokenizer.decode([...ids.slice(0, prompt), ...greedy], { skipSpecialTokens: true })).toBe(STORY);
  });

  it("--precision mixed (the base's products on 16-bit operands) learns the story as well: loss below 0.1 in 12 steps", () => {
    const out = join(dir, 'mixed');
    const { rank, alpha, lr, maxSteps, schedule } = STORY_TRAINING;
    const r = seal(
      'sft',
      '--model',
      model,
      '--data',
      data,
      '--out',
      out,
      '--targets',
      'all',
      '--rank',
      String(rank),
      '--alpha',
      String(alpha),
      '--lr',
      String(lr),
      '--max-steps',
      String(maxSteps),
      '--schedule',
      schedule,
      '--seed',
      '7',
      '--precision',
      'mixed',
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/LoRA r=\d+ alpha=\d+ on .*, mixed precision/);
    const log = readFileSync(join(out, 'loss.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, number>);
    expect(log.length).toBe(12);
    expect(log[0]!.loss).toBeGreaterThan(1);
    expect(log[11]!.loss).toBeLessThan(0.1);
  });

  it('--out: a non-empty one is refused without --force; a failed or interrupted run leaves it byte for byte; --force replaces it whole', async () => {
    const out = join(dir, 'kept');
    const run = (...extra: string[]) => seal('sft', '--model', model, '--data', data, '--out', out, ...extra);
    const first = run('--max-steps', '1', '--rank', '2', '--save-init');
    expect(first.code, first.stderr).toBe(0);
    const old = snapshot(out);
    expect([...old.keys()].sort()).toEqual([
      'adapter_config.json',
      'adapter_model.safetensors',
      'init/adapter_config.json',
      'init/adapter_model.safetensors',
      'loss.jsonl',
    ]);
    const untouched = (what: string) => {
      expect(snapshot(out), what).toEqual(old);
      expect(
        readdirSync(dir).filter((n) => n.startsWith('.kept.')),
        `${what}: no temporary directory beside --out`,
      ).toEqual([]);
    };

    expectCleanFailure(run('--max-steps', '1'), EXIT.usage, /^seal: --out .*kept already holds an adapter: pass --force to replace it/);
    untouched('refused');

    // A run that fails late (the loss diverges at an absurd learning rate and scale) keeps the old adapter.
    const diverged = run('--force', '--max-steps', '10', '--lr', '10', '--alpha', '1e14', '--grad-clip', '0', '--schedule', 'constant', '--targets', 'all');
    expectCleanFailure(diverged, EXIT.error, /^seal: .*the loss is NaN at step \d+ of 10 .*training diverged/);
    untouched('a diverged run');

    // Ctrl-C after the first step: exit 130, one line saying nothing was saved and how to rerun.
    const stopped = await sftInterruptedAfterFirstStep(['--model', model, '--data', data, '--out', out, '--force', '--max-steps', '100000']);
    expect(stopped.code, stopped.stderr).toBe(EXIT.interrupted);
    expect(stopped.stderr).toMatch(
      /^seal: SIGINT: stopped at step \d+ of 100000; nothing was saved \(the adapter in .*kept is as it was\); to train again, rerun: seal sft --model .* --force --max-steps 100000$/m,
    );
    expect(stopped.stderr).not.toMatch(/^\s+at /m);
    untouched('an interrupted run');

    // --force with a warmup longer than the run: the warning with its numbers (3 steps, warmup 5: the last step,
    // k = 2, runs at 1e-3 * 2/5 = 4e-4), then the directory replaced as a whole: no init/ of the old run, config and
    // weights of the new one (rank 4).
    const replaced = run('--force', '--max-steps', '3', '--warmup', '5', '--lr', '1e-3', '--rank', '4');
    expect(replaced.code, replaced.stderr).toBe(0);
    expect(replaced.stderr).toMatch(
      /^seal: warning: warmup \(5 steps\) >= planned steps \(3\): the learning rate never reaches its peak 1e-3 \(it ends at 4e-4\)$/m,
    );
    expect(readdirSync(out).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors', 'loss.jsonl']);
    const config = parseModelConfig(JSON.parse(readFileSync(join(model, 'config.json'), 'utf8')));
    const saved = await loadAdapterDir(out, config);
    expect(saved.config.rank).toBe(4);
    expect(saved.modules.every((m) => m.b.some((v) => v !== 0))).toBe(true); // trained (B starts at 0)
    expect(readFileSync(join(out, 'loss.jsonl'), 'utf8').trim().split('\n').length).toBe(3);
  });

  it('bad inputs exit with one clear line and leave no adapter directory', () => {
    const out = join(dir, 'never');
    const run = (...extra: string[]) => seal('sft', '--model', model, '--data', data, '--out', out, '--max-steps', '1', ...extra);
    const empty = join(dir, 'empty.jsonl');
    writeFileSync(empty, '\n\n');
    expectCleanFailure(seal('sft', '--model', model, '--data', empty, '--out', out), 1, /^seal: .*empty\.jsonl: no training examples/);
    const long = join(dir, 'long.jsonl');
    writeFileSync(long, `${JSON.stringify({ text: 'short' })}\n${JSON.stringify({ text: STORY.repeat(6) })}\n`);
    expectCleanFailure(
      seal('sft', '--model', model, '--data', long, '--out', out),
      1,
      /^seal: .*long\.jsonl line 2: the example is \d+ tokens long, over the maximum of 512 \(the model's max_position_embeddings\)/,
    );
    expectCleanFailure(run('--lr=-1'), 2, /^seal: --lr must be a number in \(0, 10\], got '-1'/);
    expectCleanFailure(run('--targets', 'q,foo'), 2, /^seal: --targets: unknown target 'foo'; use q, k, v, o, gate, up, down/);
    expectCleanFailure(run('--rank', '0'), 2, /^seal: --rank must be an integer in \[1, 65536\], got '0'/);
    expectCleanFailure(run('--precision', 'bf16'), 2, /^seal: --precision must be one of f32, mixed/);
    expect(existsSync(out), 'no adapter directory after a failed run').toBe(false);
    const mine = join(dir, 'mine');
    mkdirSync(mine);
    writeFileSync(join(mine, 'notes.txt'), 'keep');
    expectCleanFailure(
      seal('sft', '--model', model, '--data', data, '--out', mine),
      1,
      /^seal: .*mine is not empty and is not an adapter directory .*refusing to overwrite it/,
    );
    expect(readdirSync(mine)).toEqual(['notes.txt']);
  });
});
