/** The built `seal` CLI run as a child process (node bin/seal.mjs …) on stories260K. */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadModelDir } from '../../runtime-node/model-dir.ts';
import { testContext } from '../harness/context.ts';
import { sharedPath } from '../harness/shared.ts';
import { expectCleanFailure, seal, sealWithEnv } from '../harness/cli.ts';

const PROMPT = 'Once upon a time, there was a dog named';

describe('seal CLI (stories260K)', () => {
  let model: string;
  beforeAll(() => {
    model = sharedPath('models/stories260K');
  });

  it('tokenize prints ids (BOS first) and tokens', () => {
    const r = seal('tokenize', '--model', model, '--text', PROMPT);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { ids: number[]; tokens: string[] };
    expect(out.ids).toEqual([1, 403, 407, 261, 378, 432, 383, 286, 261, 400, 428, 395]);
    expect(out.tokens.slice(0, 3)).toEqual(['<s>', '▁Once', '▁upon']);
    const plain = JSON.parse(seal('tokenize', '--model', model, '--text', PROMPT, '--no-special').stdout) as { ids: number[] };
    expect(plain.ids).toEqual(out.ids.slice(1));
  });

  it('logits prints one row per position, equal to Transformer logits', async () => {
    const ids = [1, 403, 407, 261, 378];
    const r = seal('logits', '--model', model, '--ids', ids.join(','));
    expect(r.code, r.stderr).toBe(0);
    const rows = (JSON.parse(r.stdout) as { logits: number[][] }).logits;
    expect(rows.length).toBe(ids.length);
    const loaded = await loadModelDir(await testContext(), model, { matmul: 'f32' });
    try {
      const want = await loaded.transformer.logits({ ids });
      rows.forEach((row, i) => {
        expect(row.length).toBe(512);
        const worst = Math.max(...row.map((v, j) => Math.abs(v - want[i]![j]!)));
        expect(worst, `row ${i}`).toBeLessThanOrEqual(1e-5);
      });
    } finally {
      loaded.dispose();
    }
  });

  it('generate streams the greedy story', () => {
    const r = seal('generate', '--model', model, '--prompt', PROMPT, '--max-new-tokens', '40');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.startsWith(`${PROMPT} Max. Max loved to play`), r.stdout).toBe(true);
    const sampled = ['--temperature', '0.9', '--top-p', '0.9', '--top-k', '40', '--seed', '3', '--max-new-tokens', '20'];
    const a = seal('generate', '--model', model, '--prompt', PROMPT, ...sampled);
    expect(a.code, a.stderr).toBe(0);
    expect(seal('generate', '--model', model, '--prompt', PROMPT, ...sampled).stdout).toBe(a.stdout);
  });

  it('generate --n K prints K samples; --json one object per sample; sample 1 is the --n 1 sample', () => {
    const sampled = ['--temperature', '1', '--seed', '11', '--max-new-tokens', '16'];
    const one = seal('generate', '--model', model, '--prompt', PROMPT, ...sampled);
    expect(one.code, one.stderr).toBe(0);
    const r = seal('generate', '--model', model, '--prompt', PROMPT, ...sampled, '--n', '4', '--json');
    expect(r.code, r.stderr).toBe(0);
    const rows = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { index: number; text: string; finish_reason: string; tokens: number });
    expect(rows.map((x) => x.index).sort()).toEqual([0, 1, 2, 3]);
    const first = rows.find((x) => x.index === 0)!;
    expect(one.stdout).toBe(`${PROMPT}${first.text}\n`);
    expect(new Set(rows.map((x) => x.text)).size).toBeGreaterThan(1);
    const human = seal('generate', '--model', model, '--prompt', PROMPT, ...sampled, '--n', '2');
    expect(human.stdout).toMatch(/^--- sample \d\/2 \((length|stop|stop-string), \d+ tokens\) ---\nOnce upon a time/);
    expectCleanFailure(seal('generate', '--model', model, '--prompt', PROMPT, '--n', '0'), 2, /--n must be an integer in \[1, 4096\]/);
  });

  it('generate --json-schema: every sample is a valid document of the schema; a bad schema fails clearly', () => {
    const dir = mkdtempSync(join(tmpdir(), 'seal-schema-'));
    try {
      const schema = {
        type: 'object',
        properties: {
          name: { type: 'string', maxLength: 8 },
          friends: { type: 'array', items: { enum: ['Tom', 'Lily', 'Max'] }, maxItems: 3 },
          happy: { type: 'boolean' },
        },
        required: ['name', 'friends', 'happy'],
      };
      writeFileSync(join(dir, 'schema.json'), JSON.stringify(schema));
      const r = seal(
        'generate',
        '--model',
        model,
        '--prompt',
        PROMPT,
        '--json-schema',
        join(dir, 'schema.json'),
        '--temperature',
        '1',
        '--seed',
        '4',
        '--n',
        '5',
        '--json',
        '--max-new-tokens',
        '80',
      );
      expect(r.code, r.stderr).toBe(0);
      const rows = r.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { text: string; finish_reason: string });
      expect(rows.length).toBe(5);
      for (const row of rows) {
        expect(row.finish_reason, row.text).toBe('stop');
        const doc = JSON.parse(row.text) as { name: string; friends: string[]; happy: boolean };
        expect(Object.keys(doc)).toEqual(['name', 'friends', 'happy']);
        expect(typeof doc.name === 'string' && [...doc.name].length <= 8).toBe(true);
        expect(doc.friends.every((f) => ['Tom', 'Lily', 'Max'].includes(f)) && doc.friends.length <= 3).toBe(true);
        expect(typeof doc.happy).toBe('boolean');
      }
      writeFileSync(join(dir, 'bad.json'), JSON.stringify({ type: 'string', pattern: '^a' }));
      expectCleanFailure(
        seal('generate', '--model', model, '--prompt', 'hi', '--json-schema', join(dir, 'bad.json')),
        2,
        /--json-schema .*bad.json: .*pattern/,
      );
      writeFileSync(join(dir, 'broken.json'), '{"type": ');
      expectCleanFailure(seal('generate', '--model', model, '--prompt', 'hi', '--json-schema', join(dir, 'broken.json')), 2, /is not valid JSON/);
      expectCleanFailure(
        seal('generate', '--model', model, '--prompt', 'hi', '--json-schema', join(dir, 'missing.json')),
        2,
        /cannot read .*missing.json: ENOENT/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('generate --chat renders the chat template (with --system)', () => {
    // stories260K with a minimal template that concatenates the messages: the chat prompt is the plain prompt.
    const dir = mkdtempSync(join(tmpdir(), 'seal-chat-'));
    for (const f of ['config.json', 'generation_config.json', 'model.safetensors', 'tokenizer.json']) symlinkSync(join(model, f), join(dir, f));
    const config = JSON.parse(readFileSync(join(model, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ ...config, chat_template: '{% for m in messages %}{{ m.content }}{% endfor %}' }));
    try {
      const r = seal('generate', '--model', dir, '--chat', '--system', 'Once upon a time,', '--prompt', ' there was a dog named', '--max-new-tokens', '12');
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout.startsWith(' Max. Max loved to play'), r.stdout).toBe(true);
      expectCleanFailure(seal('generate', '--model', dir, '--system', 'x', '--prompt', 'hi'), 2, /--system needs --chat/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('fails with one clear line, never a stack trace', () => {
    expectCleanFailure(seal('logits', '--model', '/nonexistent/model', '--ids', '1'), 1, /\/nonexistent\/model does not exist/);
    // A Hub id goes to HF_ENDPOINT: a closed port on 127.0.0.1 (never the real hub) and an empty cache.
    const cache = mkdtempSync(join(tmpdir(), 'seal-cli-hub-'));
    try {
      const offlineHub = { HF_ENDPOINT: 'http://127.0.0.1:9', HF_HUB_CACHE: cache, HF_TOKEN: '', HF_HUB_OFFLINE: '' };
      expectCleanFailure(
        sealWithEnv(offlineHub, 'tokenize', '--model', 'some-org/some-model', '--text', 'hi'),
        1,
        /cannot reach http:\/\/127\.0\.0\.1:9 .*no network\?/,
      );
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
    expectCleanFailure(seal('logits', '--model', model, '--ids', '1,x,3'), 2, /--ids must be comma-separated/);
    expectCleanFailure(seal('logits', '--model', model, '--ids', '1,512'), 2, /512 is outside the vocabulary/);
    expectCleanFailure(seal('generate', '--model', model, '--prompt', 'hi', '--chat'), 1, /has no chat template/);
    expectCleanFailure(seal('generate', '--model', model, '--prompt', 'hi', '--max-new-tokens=-3'), 2, /--max-new-tokens must be an integer/);
    expectCleanFailure(seal('generate', '--model', model, '--prompt', 'hi', '--top-p', '1.5'), 2, /--top-p must be a number in \(0, 1\]/);
    expectCleanFailure(seal('generate', '--model', model, '--prompt', 'hi', '--temperature', 'warm'), 2, /--temperature must be a number/);
    expectCleanFailure(seal('generate', '--model', model), 2, /--prompt is required/);
  });
  it('broken model directories fail with one clear line: truncated weights, a lying header, no tokenizer, unsupported architecture', () => {
    const src = sharedPath('models/stories260K');
    const broken = (name: string, change: (dir: string) => void) => {
      const dir = mkdtempSync(join(tmpdir(), `seal-broken-${name}-`));
      for (const f of readdirSync(src)) if (statSync(join(src, f)).isFile()) writeFileSync(join(dir, f), readFileSync(join(src, f)));
      change(dir);
      return dir;
    };
    const dirs: string[] = [];
    try {
      const weights = readFileSync(join(src, 'model.safetensors'));
      const headerLen = Number(weights.readBigUInt64LE(0));
      const header = JSON.parse(weights.subarray(8, 8 + headerLen).toString('utf8')) as Record<string, { shape: number[] }>;
      const first = Object.keys(header).find((k) => k !== '__metadata__')!;
      const cases: [string, (dir: string) => void, RegExp][] = [
        [
          'truncated',
          (d) => writeFileSync(join(d, 'model.safetensors'), weights.subarray(0, weights.length - 1000)),
          /model\.safetensors.*(truncated|past the end|beyond|shorter)/i,
        ],
        [
          'lying-header',
          (d) => {
            // Same JSON length, but the first tensor claims one more row than its bytes hold.
            const lie = { ...header, [first]: { ...header[first]!, shape: [header[first]!.shape[0]! + 1, ...header[first]!.shape.slice(1)] } };
            let text = JSON.stringify(lie);
            text = text.padEnd(headerLen, ' ');
            const out = Buffer.from(weights);
            out.writeBigUInt64LE(BigInt(Buffer.byteLength(text)), 0);
            writeFileSync(join(d, 'model.safetensors'), Buffer.concat([out.subarray(0, 8), Buffer.from(text), weights.subarray(8 + headerLen)]));
          },
          new RegExp(`${first.replace(/\./g, '\\.')}`),
        ],
        ['no-tokenizer', (d) => rmSync(join(d, 'tokenizer.json')), /tokenizer\.json/],
        [
          'mistral',
          (d) => {
            const cfg = JSON.parse(readFileSync(join(d, 'config.json'), 'utf8')) as Record<string, unknown>;
            writeFileSync(join(d, 'config.json'), JSON.stringify({ ...cfg, architectures: ['MistralForCausalLM'] }));
          },
          /unsupported architecture 'MistralForCausalLM'; supported architectures: LlamaForCausalLM, Qwen2ForCausalLM/,
        ],
      ];
      for (const [name, change, message] of cases) {
        const dir = broken(name, change);
        dirs.push(dir);
        expectCleanFailure(seal('logits', '--model', dir, '--ids', '1,2'), 1, message);
      }
    } finally {
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    }
  });
});
