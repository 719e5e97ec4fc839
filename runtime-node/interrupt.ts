/**
 * Ctrl-C / SIGTERM for the long `seal` commands (arc train|eval|baseline, sft). The first signal runs the command's
 * `stop` (record an `interrupted` event, release the run's lock, say how to resume) and then exits with
 * EXIT.interrupted; the work in flight is not waited for, since what it recorded so far is consistent (records are
 * appended whole, one write each) and a resume redoes anything unfinished. A second signal exits at once.
 */
import { EXIT } from './exit-codes.ts';

const SIGNALS = ['SIGINT', 'SIGTERM'] as const;

export interface InterruptWatch {
  /** The signal that stopped the command (null while none came). */
  readonly signal: NodeJS.Signals | null;
  /**
   * Settles once `stop` has run, with EXIT.interrupted; the process exits right after. The command's own error path
   * awaits it when `signal` is set, so an error its stopped work throws meanwhile is not reported as a failure.
   */
  readonly stopped: Promise<number>;
  /** Removes the handlers (the command is done; a later signal gets Node's default). */
  dispose(): void;
}

/** Installs the SIGINT/SIGTERM handlers; `stop` gets the signal's name. */
export function watchInterrupts(stop: (signal: NodeJS.Signals) => void | Promise<void>, exit: (code: number) => void = exitAfterStdout): InterruptWatch {
  let signal: NodeJS.Signals | null = null;
  let settle: (code: number) => void = () => {};
  const stopped = new Promise<number>((resolve) => (settle = resolve));
  const handler = (received: NodeJS.Signals) => {
    if (signal !== null) {
      console.error(`seal: ${received} again: exiting now`);
      exit(EXIT.interrupted);
      return;
    }
    signal = received;
    void (async () => {
      try {
        await stop(received);
      } catch (e) {
        console.error(`seal: while stopping after ${received}: ${(e as Error).message}`);
      }
      settle(EXIT.interrupted);
      exit(EXIT.interrupted);
    })();
  };
  for (const s of SIGNALS) process.on(s, handler);
  return {
    get signal() {
      return signal;
    },
    stopped,
    dispose: () => {
      for (const s of SIGNALS) process.off(s, handler);
    },
  };
}

/** Exits once stdout has drained (a pipe reader gets everything printed before the signal). */
function exitAfterStdout(code: number): void {
  process.stdout.write('', () => process.exit(code));
}

/** The command line that reruns this process's `seal` command, quoted for a POSIX shell (what a resume runs). */
export function sealCommandLine(argv: readonly string[] = process.argv.slice(2)): string {
  return ['seal', ...argv].map(shellQuote).join(' ');
}

function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}
