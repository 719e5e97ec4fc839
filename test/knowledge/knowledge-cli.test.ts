/**
 * `seal knowledge show` / `seal knowledge sequences`: the built CLI (npm run build) on the embedded SQuAD slice and
 * the real files in ../shared/data/squad. Expected texts are written from the reference's templates and rules.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { expectCleanFailure, seal } from '../harness/cli.ts';
import { sharedPath } from '../harness/shared.ts';

const SQUAD_VAL = sharedPath('data/squad/squad_val.json');
const GPT4 = sharedPath('data/squad/gpt4_1_synthetic_val.json');
const EXAMPLE = new URL('../../examples/data/squad/gpt4_1_synthetic_val_first20.json', import.meta.url);
const example = JSON.parse(readFileSync(EXAMPLE, 'utf8')) as { title: string; context: string; completions: string[]; prompt: string }[];

const dir = mkdtempSync(join(tmpdir(), 'seal-knowledge-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe('seal knowledge show', () => {
  it('prints the prompt byte for byte and nothing else (default data: the embedded slice)', () => {
    const r = seal('knowledge', 'show', '--passage', '0');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(example[0]!.prompt);
    expect(r.stderr).toBe('');
  });

  it("--prompt picks the template; --data reads another file (squad_val.json id 1168 is the paper's first evaluation passage)", () => {
    const { title, context } = example[0]!;
    const r = seal('knowledge', 'show', '--data', SQUAD_VAL, '--passage', '1168', '--prompt', 'self-qa');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`Let's read the following passage and rewrite it in a question-answer format.\n\nPassage:\n${title}\n${context}\n\nQuestion 1: `);
    const rewrite = seal('knowledge', 'show', '--data', GPT4, '--passage', '3', '--prompt', 'rewrite');
    const p3 = JSON.parse(readFileSync(GPT4, 'utf8'))[3] as { title: string; context: string };
    expect(rewrite.stdout).toBe(
      `Let's read the following passage and rewrite it in a few different ways, each one separated by a newline.\n\nPassage:\n${p3.title}\n${p3.context}\n\nRewritten passages:\n`,
    );
  });
});

describe('seal knowledge sequences', () => {
  it("prints a GPT-4.1 completion's sequences as a JSON array: its list lines, then the passage", () => {
    const p = example[2]!;
    const r = seal('knowledge', 'sequences', '--passage', '2', '--completion-file', file('c2.txt', p.completions[0]!));
    expect(r.code, r.stderr).toBe(0);
    const sequences = JSON.parse(r.stdout) as string[];
    const lines = p.completions[0]!.split('\n')
      .map((l) => l.trim())
      .filter(Boolean);
    const listed = lines.length > 1 && lines[1]!.startsWith('1.') ? lines.slice(1) : lines;
    expect(sequences).toEqual([...listed.map((l) => `${p.title}\n${l}`), `${p.title}\n${p.context.trim()}`]);
  });

  it('self-qa: pairs stay together; --compat splits them as the reference did', () => {
    const completion = file('qa.txt', 'Who?\nAnswer 1: Subutai\nQuestion 2: Where?\nAnswer 2: Otrar\n');
    const { title, context } = example[0]!;
    const fixed = seal('knowledge', 'sequences', '--passage', '0', '--prompt', 'self-qa', '--completion-file', completion);
    expect(fixed.code, fixed.stderr).toBe(0);
    expect(JSON.parse(fixed.stdout)).toEqual([
      `${title}\nQuestion 1: Who?\nAnswer 1: Subutai`,
      `${title}\nQuestion 2: Where?\nAnswer 2: Otrar`,
      `${title}\n${context}`,
    ]);
    const compat = seal('knowledge', 'sequences', '--passage', '0', '--prompt', 'self-qa', '--completion-file', completion, '--compat');
    expect(compat.code, compat.stderr).toBe(0);
    expect(JSON.parse(compat.stdout)).toEqual([
      `${title}\nWho?`,
      `${title}\nAnswer 1: Subutai`,
      `${title}\nQuestion 2: Where?`,
      `${title}\nAnswer 2: Otrar`,
      `${title}\n${context}`,
    ]);
  });
});

describe('seal knowledge: help and bad input', () => {
  it.each([
    [['knowledge'], /seal knowledge show .*\n[\s\S]*seal knowledge sequences /],
    [['knowledge', 'show'], /^Usage: seal knowledge show --passage N/],
    [['knowledge', 'sequences'], /^Usage: seal knowledge sequences --passage N --completion-file F/],
  ])('seal %j --help', (command, usage) => {
    const r = seal(...command, '--help');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(usage);
    expect(seal('help', ...command).stdout).toBe(r.stdout);
  });

  it('lists knowledge among the commands', () => {
    expect(seal('--help').stdout).toMatch(/^ {2}knowledge {4}SEAL on SQuAD passages/m);
  });

  it('bad input is one seal: line and a non-zero exit', () => {
    const completion = file('any.txt', '1. A');
    const bad = (args: string[], code: number, message: RegExp) => expectCleanFailure(seal('knowledge', ...args), code, message);
    bad([], 2, /^seal: knowledge needs a subcommand: show, sequences, grade, train, eval or baseline$/);
    bad(['frobnicate'], 2, /^seal: unknown knowledge subcommand 'frobnicate' \(show, sequences, grade, train, eval, baseline\)$/);
    bad(['show'], 2, /^seal: --passage is required$/);
    bad(['show', '--passage', 'x'], 2, /^seal: --passage must be an integer in \[0, \d+\], got 'x'$/);
    bad(['show', '--passage', '-1'], 2, /^seal: --passage must be an integer/);
    bad(['show', '--passage', '20'], 2, /^seal: --passage 20: .*gpt4_1_synthetic_val_first20\.json has 20 passages, ids 0-19$/);
    bad(
      ['show', '--passage', '0', '--prompt', 'summary'],
      2,
      /^seal: --prompt must be one of implications, implications-long, implications-very-long, rewrite, self-qa, got 'summary'$/,
    );
    bad(['show', '--passage', '0', '--data', join(dir, 'missing.json')], 2, /^seal: --data .*missing\.json: cannot read it \(ENOENT\)$/);
    bad(['show', '--passage', '0', '--data', file('broken.json', '[{"title": "T"')], 1, /^seal: .*broken\.json is not valid JSON: /);
    bad(
      ['show', '--passage', '0', '--data', file('bad.json', '[{"title": "T", "context": "C", "questions": []}]')],
      1,
      /^seal: .*bad\.json: 1 problem\(s\) in its passages: passage 0: "questions" must be a non-empty list/,
    );
    bad(['sequences', '--passage', '0'], 2, /^seal: --completion-file is required$/);
    bad(['sequences', '--passage', '0', '--completion-file', join(dir, 'nope.txt')], 2, /^seal: --completion-file .*nope\.txt: cannot read it \(ENOENT\)$/);
    bad(['sequences', '--passage', '0', '--completion-file', completion, '--compat=yes'], 2, /^seal: --compat takes no value$/);
  });
});
