/**
 * --chat-template FILE wherever a chat template is used (the built CLI on stories260K, which has none):
 * `seal arc show|dataset --model` use the template arc train uses (the plain stand-in, with a note, instead of a
 * refusal) or the file; a missing or unparsable file is one usage line; `seal generate --chat` and `seal sft` on
 * {"messages"} rows render with the file, and without it say to pass one.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { expectCleanFailure, seal } from '../harness/cli.ts';
import { sharedPath } from '../harness/shared.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TASKS = join(ROOT, 'examples/arc-tiny/tiny_challenges.json');
const EDIT = JSON.stringify({
  data_generation: { use_basic_augmentations: true, use_size_augmentations: false, use_chain_augmentations: false, use_repeat_augmentations: false },
  training: { strategy: 'train_using_all_tokens', learning_rate: 1e-4, num_train_epochs: 2 },
});

describe('seal arc show|dataset --model: the chat template', () => {
  const model = sharedPath('models/stories260K');
  const dir = mkdtempSync(join(tmpdir(), 'seal-arc-chat-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const template = join(dir, 'bracket.jinja');
  writeFileSync(template, '{% for m in messages %}[{{ m.role }}] {{ m.content }}\n{% endfor %}');

  it('a model without a chat template gets the plain one arc train uses, with a note', () => {
    const r = seal('arc', 'show', '--task', 'tiny0001', '--data', TASKS, '--model', model);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/seal: note: .*stories260K has no chat template; prompts are rendered with a plain one/);
    expect(r.stdout).toMatch(/=== self-edit request \(\d+ tokens\) ===/);
    expect(r.stdout).toMatch(/=== solve tiny0001-0 \(\d+ tokens\) ===/);
    const d = seal('arc', 'dataset', '--task', 'tiny0001', '--data', TASKS, '--model', model, '--self-edit', EDIT);
    expect(d.code, d.stderr).toBe(0);
    expect(d.stdout).toMatch(/task tiny0001: \d+ TTT examples/);
    expect(d.stdout).not.toContain('(no --model: not checked)');
  });

  it('--chat-template FILE renders the prompts instead', () => {
    const r = seal('arc', 'show', '--task', 'tiny0001', '--data', TASKS, '--model', model, '--chat-template', template);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toContain('has no chat template');
    expect(r.stdout).toMatch(/=== self-edit request \(\d+ tokens\) ===\n\[system\] [^\n]*\n\[user\] /);
  });

  it('a missing or unparsable template file, or one without --model, is one usage line', () => {
    expectCleanFailure(
      seal('arc', 'show', '--task', 'tiny0001', '--data', TASKS, '--model', model, '--chat-template', join(dir, 'nope.jinja')),
      2,
      /--chat-template: cannot read .*nope\.jinja: ENOENT/,
    );
    const broken = join(dir, 'broken.jinja');
    writeFileSync(broken, '{% for m in messages %}{{ m.content }');
    expectCleanFailure(
      seal('arc', 'dataset', '--task', 'tiny0001', '--data', TASKS, '--model', model, '--self-edit', EDIT, '--chat-template', broken),
      2,
      /--chat-template: .*broken\.jinja is not a usable Jinja template/,
    );
    expectCleanFailure(seal('arc', 'show', '--task', 'tiny0001', '--data', TASKS, '--chat-template', template), 2, /--chat-template needs --model/);
  });

  it('seal generate --chat and seal sft on {"messages"} rows use the file, and without it say to pass one', () => {
    const gen = (...extra: string[]) => seal('generate', '--model', model, '--prompt', 'Once upon a time', '--max-new-tokens', '2', ...extra);
    const ok = gen('--chat', '--chat-template', template, '--json');
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout.trim())).toMatchObject({ index: 0, tokens: 2 });
    expectCleanFailure(gen('--chat'), 1, /has no chat template .*: pass --chat-template FILE, or drop --chat/);
    expectCleanFailure(gen('--chat-template', template), 2, /--chat-template needs --chat/);

    const rows = join(dir, 'chat.jsonl');
    writeFileSync(
      rows,
      `${JSON.stringify({
        messages: [
          { role: 'user', content: 'Hi' },
          { role: 'assistant', content: 'Hello there.' },
        ],
      })}\n`,
    );
    const sft = (out: string, ...extra: string[]) =>
      seal('sft', '--model', model, '--data', rows, '--out', join(dir, out), '--max-steps', '1', '--rank', '2', '--targets', 'q,v', ...extra);
    expectCleanFailure(sft('no-template'), 1, /a \{"messages"\} row needs the model's chat template.*: pass --chat-template FILE/);
    expectCleanFailure(sft('missing-template', '--chat-template', join(dir, 'missing.jinja')), 2, /--chat-template: cannot read .*missing\.jinja/);
    const trained = sft('with-template', '--chat-template', template);
    expect(trained.code, trained.stderr).toBe(0);
    expect(existsSync(join(dir, 'with-template', 'adapter_model.safetensors'))).toBe(true);
  }, 120_000);
});
