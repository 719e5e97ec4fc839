/**
 * The frame every `seal` command shares: --help for every command and subcommand, --version, one-line usage errors
 * with a pointer to --help, the documented exit codes, internal errors without a stack, doctor's --gpu-adapter, and
 * Dawn's own warnings hidden unless --verbose.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeError } from '../../runtime-node/cli-errors.ts';
import { EXIT } from '../../runtime-node/exit-codes.ts';
import { UsageError } from '../../runtime-node/flags.ts';
import { NODE, type SealResult, seal } from '../harness/cli.ts';
import { sharedPath } from '../harness/shared.ts';

const MODEL = sharedPath('models/stories260K');
const TASKS = 'examples/arc-tiny/tiny_challenges.json';
const SELF_EDIT = JSON.stringify({
  data_generation: { use_basic_augmentations: true, use_size_augmentations: false, use_chain_augmentations: false, use_repeat_augmentations: false },
  training: { strategy: 'train_using_all_tokens', learning_rate: 1e-4, num_train_epochs: 1 },
});
const VERSION = (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version;

/** Each command and subcommand with flags its usage must list (with the default where the flag has one). */
const COMMANDS: [command: string[], mentions: RegExp[]][] = [
  [['doctor'], [/--json/, /--gpu-adapter NAME/, /--verbose/]],
  [['tokenize'], [/--model DIR/, /--text TEXT/, /--no-special/]],
  [['logits'], [/--ids LIST/, /--adapter ADAPTER_DIR/, /--disable-features/]],
  [['generate'], [/--max-new-tokens N .*\(256\)/, /--temperature T .*\(0\)/, /--top-p P/, /--seed S .*\(0\)/, /--n K .*\(1\)/, /--json-schema FILE/]],
  [['sft'], [/--rank 8/, /--lr 1e-4/, /--targets/, /--precision/]],
  [['merge'], [/--adapter ADAPTER_DIR/, /--out OUT_DIR/, /--dtype D/]],
  [['arc'], [/seal arc show/, /seal arc dataset/, /seal arc train\|eval\|baseline/]],
  [
    ['arc', 'show'],
    [/--task ID/, /--data FILE/, /--chat-template FILE/],
  ],
  [
    ['arc', 'dataset'],
    [/--self-edit JSON\|@FILE/, /--seed S .*\(0\)/, /--no-cap/, /--dump FILE/],
  ],
  [
    ['arc', 'train'],
    [/--self-edits K/, /--rounds N .*\(1\)/, /--ttt-max-steps/],
  ],
  [['arc', 'eval'], [/--policy DIR/]],
  [['arc', 'baseline'], [/--baseline NAME/]],
  [['help'], [/seal help \[COMMAND/]],
];

/** A usage error: exactly `seal: <message>` and the pointer to the command's --help, exit 2. */
function expectUsageError(r: SealResult, message: RegExp, command: string): void {
  expect(r.code, r.stderr).toBe(EXIT.usage);
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines, r.stderr).toHaveLength(2);
  expect(lines[0]).toMatch(/^seal: /);
  expect(lines[0]).toMatch(message);
  expect(lines[1]).toBe(`Run 'seal ${command ? `${command} ` : ''}--help' for usage.`);
  expect(r.stdout).toBe('');
}

describe('seal --help, help, --version', () => {
  it.each(COMMANDS)('seal %j --help prints its usage (exit 0), also without its required flags', (command, mentions) => {
    const r = seal(...command, '--help');
    expect(r.code, r.stderr).toBe(EXIT.ok);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^Usage:/);
    for (const m of mentions) expect(r.stdout).toMatch(m);
    expect(seal(...command, '-h').stdout).toBe(r.stdout);
    expect(seal('help', ...command).stdout).toBe(r.stdout);
    // --help wins over flags that are wrong or missing.
    expect(seal(...command, '--no-such-flag', '--help').stdout).toBe(r.stdout);
  });

  it('seal --help lists the commands and documents every exit code', () => {
    const r = seal('--help');
    expect(r.code).toBe(EXIT.ok);
    for (const c of ['doctor', 'tokenize', 'logits', 'generate', 'sft', 'merge', 'arc', 'help']) expect(r.stdout).toMatch(new RegExp(`^  ${c} `, 'm'));
    for (const code of Object.values(EXIT)) expect(r.stdout).toMatch(new RegExp(`^  ${code} +\\S`, 'm'));
    expect(seal().stdout).toBe(r.stdout);
    expect(seal('help').stdout).toBe(r.stdout);
  });

  it('seal --version and -V print the package version', () => {
    for (const flag of ['--version', '-V']) {
      const r = seal(flag);
      expect(r.code).toBe(EXIT.ok);
      expect(r.stdout).toBe(`seal-webgpu ${VERSION}\n`);
    }
  });
});

describe('usage errors: one line, a pointer to --help, exit 2', () => {
  it('flags parseArgs rejects, in the CLI words', () => {
    expectUsageError(seal('generate', '--model', MODEL, '--prompt', 'x', '--no-such-flag'), /^seal: unknown option '--no-such-flag'$/, 'generate');
    expectUsageError(seal('tokenize', '--model', MODEL, '--text'), /^seal: --text needs a value$/, 'tokenize');
    expectUsageError(seal('logits', '--model', MODEL, 'stray'), /^seal: unexpected argument 'stray'/, 'logits');
    expectUsageError(seal('doctor', '--json=yes'), /^seal: --json takes no value$/, 'doctor');
    expectUsageError(seal('arc', 'train', '--model', MODEL, '--bogus', '1'), /^seal: unknown option '--bogus'$/, 'arc train');
    expectUsageError(seal('sft', '--model', MODEL, '--out', 'x'), /^seal: --data is required$/, 'sft');
  });

  it('a negative number is a flag value, and the range check says what is allowed', () => {
    expectUsageError(
      seal('generate', '--model', MODEL, '--prompt', 'x', '--max-new-tokens', '-5'),
      /^seal: --max-new-tokens must be an integer in \[0, 1048576\], got '-5'$/,
      'generate',
    );
    expectUsageError(
      seal('generate', '--model', MODEL, '--prompt', 'x', '--temperature', '-0.5'),
      /--temperature must be a number in \[0, 1000000\], got '-0.5'/,
      'generate',
    );
    expectUsageError(seal('sft', '--model', MODEL, '--data', 'd', '--out', 'o', '--rank', '-1'), /--rank must be an integer in \[1, 65536\], got '-1'/, 'sft');
    expectUsageError(
      seal('arc', 'train', '--model', MODEL, '--tasks', TASKS, '--run', 'r', '--seed', '-3'),
      /--seed must be an integer .*got '-3'/,
      'arc train',
    );
    expectUsageError(
      seal('arc', 'dataset', '--task', 'x', '--self-edit', SELF_EDIT, '--seed', '-3'),
      /--seed must be an integer in \[0, 2\^32\), got '-3'/,
      'arc dataset',
    );
  });

  it('unknown commands and subcommands', () => {
    expectUsageError(seal('frobnicate'), /^seal: unknown command 'frobnicate'$/, '');
    expectUsageError(seal('help', 'frobnicate'), /^seal: unknown command 'frobnicate'$/, 'help');
    expectUsageError(seal('arc', 'frobnicate'), /unknown arc subcommand 'frobnicate'/, 'arc');
  });
});

describe('exit codes', () => {
  it('3: no GPU adapter matches --gpu-adapter or --backend; doctor --gpu-adapter takes a listed name, --adapter still works with a warning', () => {
    const none = seal('doctor', '--gpu-adapter', 'no-such-adapter');
    expect(none.code, none.stderr).toBe(EXIT.noGpu);
    const lines = none.stderr.trimEnd().split('\n');
    expect(lines, none.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(/^seal: no WebGPU adapter matches --gpu-adapter 'no-such-adapter'; this machine has '[^']+' \(\w+\)/);
    const name = /this machine has '([^']+)'/.exec(lines[0]!)![1]!;
    const logits = seal('logits', '--model', MODEL, '--ids', '1', '--gpu-adapter', 'no-such-adapter');
    expect(logits.code, logits.stderr).toBe(EXIT.noGpu);
    expect(logits.stderr).toMatch(/^seal: no WebGPU adapter matches --gpu-adapter 'no-such-adapter'/);
    // A backend this machine does not run (Dawn has no Metal on Linux, no D3D12 outside Windows).
    const backend = process.platform === 'darwin' ? 'd3d12' : 'metal';
    const noBackend = seal('doctor', '--backend', backend);
    expect(noBackend.code, noBackend.stderr).toBe(EXIT.noGpu);
    expect(noBackend.stderr).toMatch(new RegExp(`^seal: no WebGPU adapter matches --backend ${backend}`));

    const chosen = seal('doctor', '--json', '--gpu-adapter', name);
    expect(chosen.code, chosen.stderr).toBe(EXIT.ok);
    expect((JSON.parse(chosen.stdout) as { dawnFlags: string[] }).dawnFlags).toContain(`adapter=${name}`);
    expect(chosen.stderr).toBe('');
    const old = seal('doctor', '--json', '--adapter', name);
    expect(old.code, old.stderr).toBe(EXIT.ok);
    expect(old.stdout).toBe(chosen.stdout);
    expect(old.stderr).toBe('seal: warning: doctor --adapter is deprecated (it means a LoRA adapter elsewhere): use --gpu-adapter\n');
  });

  it('4: the run directory is locked by a live process; the directory is left as it was', () => {
    const run = mkdtempSync(join(tmpdir(), 'seal-locked-'));
    try {
      // The lock of a live process on this host: this test's own.
      const lock = JSON.stringify({ pid: process.pid, host: hostname(), started: new Date().toISOString(), nonce: 'held-by-the-test' });
      writeFileSync(join(run, 'run.lock'), lock);
      const r = seal('arc', 'baseline', '--baseline', 'in-context', '--model', MODEL, '--tasks', TASKS, '--run', run);
      expect(r.code, r.stderr).toBe(EXIT.runLocked);
      const errors = r.stderr.split('\n').filter((l) => l.startsWith('seal: ') && !/^seal: (note|warning):/.test(l));
      expect(errors, r.stderr).toHaveLength(1);
      expect(errors[0]).toMatch(new RegExp(`pid ${process.pid}`));
      expect(r.stderr).not.toMatch(/^\s+at /m);
      expect(readFileSync(join(run, 'run.lock'), 'utf8')).toBe(lock);
    } finally {
      rmSync(run, { recursive: true, force: true });
    }
  });

  it('1: an internal error is one line that says how to see its stack; SEAL_DEBUG=1 shows it', () => {
    const bug = new TypeError("Cannot read properties of undefined (reading 'x')");
    const plain = describeError(bug, 'generate');
    expect(plain.code).toBe(EXIT.error);
    expect(plain.lines).toEqual(["seal: internal error: Cannot read properties of undefined (reading 'x') (rerun with SEAL_DEBUG=1 for the stack)"]);
    const debug = describeError(bug, 'generate', true);
    expect(debug.lines[0]).toBe("seal: internal error: Cannot read properties of undefined (reading 'x')");
    expect(debug.lines[1]).toBe(bug.stack);
    // A usage error is never internal, whatever the debug setting.
    expect(describeError(new UsageError('--n must be an integer'), 'generate', true)).toEqual({
      code: EXIT.usage,
      lines: ['seal: --n must be an integer', "Run 'seal generate --help' for usage."],
    });
  });
});

describe('a broken installation', () => {
  it('a bundle that cannot load (a dependency missing) is one line saying to reinstall, for a GPU command and another', () => {
    const root = mkdtempSync(join(tmpdir(), 'seal-install-'));
    try {
      mkdirSync(join(root, 'bin'));
      mkdirSync(join(root, 'dist'));
      copyFileSync('bin/seal.mjs', join(root, 'bin', 'seal.mjs'));
      writeFileSync(join(root, 'dist', 'cli.mjs'), "import 'seal-test-no-such-package';\n");
      for (const args of [['--version'], ['doctor']]) {
        const r = spawnSync(NODE, [join(root, 'bin', 'seal.mjs'), ...args], { encoding: 'utf8' });
        expect(r.status, r.stderr).toBe(EXIT.error);
        expect(r.stderr).toMatch(
          /^seal: cannot load the CLI \(Cannot find package 'seal-test-no-such-package'.*\): run `npm ci` in the seal-webgpu package\n$/,
        );
      }
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe("Dawn's warnings", () => {
  it('are hidden unless --verbose; the command output and its own stderr lines still arrive', () => {
    const quiet = seal('doctor', '--json');
    expect(quiet.code, quiet.stderr).toBe(EXIT.ok);
    expect(quiet.stderr).not.toMatch(/artificially reduced/);
    const report = JSON.parse(quiet.stdout) as { adapter: { description?: string; architecture?: string } };
    const loud = seal('doctor', '--json', '--verbose');
    expect(loud.code, loud.stderr).toBe(EXIT.ok);
    expect(loud.stdout).toBe(quiet.stdout);
    // Lavapipe (llvmpipe) reports limits Dawn reduces, with a warning per limit; other adapters may print none.
    if (/llvmpipe/.test(JSON.stringify(report.adapter))) {
      expect(loud.stderr).toMatch(/^Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced from \d+ to \d+/m);
    }
  });
});
