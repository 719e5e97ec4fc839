#!/usr/bin/env node
// The `seal` CLI. The bundle is built by `npm run build`, which `npm ci`/`npm install` run through `prepare`.
import { spawn } from 'node:child_process';
import { existsSync, writeSync } from 'node:fs';
import { Writable } from 'node:stream';
import { isatty, WriteStream } from 'node:tty';
import { fileURLToPath } from 'node:url';

const bundle = fileURLToPath(new URL('../dist/cli.mjs', import.meta.url));
if (!existsSync(bundle)) {
  console.error('seal: dist/cli.mjs is missing; run `npm run build` in the seal-webgpu package first.');
  process.exit(1);
}
process.env.XDG_RUNTIME_DIR ??= '/tmp';
const args = process.argv.slice(2);

// Dawn prints warnings from native code straight to file descriptor 2 (on lavapipe two lines per adapter:
// "Warning: maxDynamic...PerPipelineLayout artificially reduced from 1000000 to 16 ..."), where JavaScript cannot
// filter them. Unless --verbose, the command runs in a child process whose fd 2 is a pipe filtered here, while its
// JavaScript stderr (messages, progress bars) is written to its fd 3: this process's own stderr, so a terminal
// stays a terminal. The child has its own process group: a Ctrl-C reaches it once, forwarded from here.
const STDERR_FD_ENV = 'SEAL_STDERR_FD';
const DAWN_NOISE = /^Warning: \w+ artificially reduced from \d+ to \d+/;
const FORWARDED = ['SIGINT', 'SIGTERM', 'SIGHUP'];

// Only the commands that create a device pay for the second process (help, --version, tokenize, arc show do not).
const GPU_COMMANDS = [
  'doctor',
  'logits',
  'generate',
  'merge',
  'sft',
  'arc train',
  'arc eval',
  'arc baseline',
  'knowledge grade',
  'knowledge train',
  'knowledge eval',
  'knowledge baseline',
];

const inChild = process.env[STDERR_FD_ENV] !== undefined;
const flags = args.slice(0, args.includes('--') ? args.indexOf('--') : args.length);
const usesGpu = GPU_COMMANDS.includes(args[0]) || GPU_COMMANDS.includes(`${args[0]} ${args[1]}`);
const quiet = usesGpu && !flags.some((f) => f === '--verbose' || f === '--help' || f === '-h');
if (!inChild && quiet && process.platform !== 'win32') {
  await runFiltered();
} else {
  if (inChild) useStderrFd(Number(process.env[STDERR_FD_ENV]));
  let main;
  try {
    ({ main } = await import(bundle));
  } catch (e) {
    // The bundle or the native webgpu module it loads is broken or missing: one line, no stack.
    console.error(`seal: cannot load the CLI (${e.message.split('\n')[0]}): run \`npm ci\` in the seal-webgpu package`);
    process.exit(1);
  }
  const code = await main(args);
  // Dawn keeps native handles alive, so exit explicitly once the command is done, but only after stdout has drained:
  // exiting at once cuts a large output (seal logits) written to a pipe.
  process.stdout.write('', () => process.exit(code));
}

/** Runs this script again as a child with its native stderr filtered; exits as the child did. */
function runFiltered() {
  const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), ...args], {
    stdio: ['inherit', 'inherit', 'pipe', 2, 'ipc'],
    env: { ...process.env, [STDERR_FD_ENV]: '3' },
    detached: true,
  });
  const forward = (signal) => child.kill(signal);
  for (const s of FORWARDED) process.on(s, forward);
  let pending = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (text) => {
    const lines = (pending + text).split('\n');
    pending = lines.pop();
    const kept = lines.filter((l) => !DAWN_NOISE.test(l));
    if (kept.length) process.stderr.write(`${kept.join('\n')}\n`);
  });
  return new Promise(() => {
    child.on('close', (code, signal) => {
      if (pending && !DAWN_NOISE.test(pending)) process.stderr.write(pending);
      for (const s of FORWARDED) process.off(s, forward);
      if (signal) process.kill(process.pid, signal);
      else process.exit(code ?? 1);
    });
  });
}

/** In the child: JavaScript's stderr is `fd` (the parent's stderr); if the parent dies, so does the child. */
function useStderrFd(fd) {
  const stream = isatty(fd)
    ? new WriteStream(fd)
    : Object.assign(
        new Writable({
          write(chunk, _encoding, done) {
            try {
              for (let at = 0; at < chunk.length; ) at += writeSync(fd, chunk, at);
              done();
            } catch (e) {
              done(e);
            }
          },
        }),
        { isTTY: false, fd },
      );
  stream.on('error', () => {}); // the reader went away (EPIPE): nothing left to tell it
  Object.defineProperty(process, 'stderr', { value: stream, configurable: true, enumerable: true, writable: true });
  globalThis.console = new console.Console({ stdout: process.stdout, stderr: stream });
  process.on('disconnect', () => process.kill(process.pid, 'SIGKILL'));
  process.channel?.unref();
}
