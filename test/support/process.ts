import type { ChildProcess } from 'node:child_process';

/** Resolves with the signal that ended the child (null when it exited by itself); at once if it is gone already. */
export function exited(child: ChildProcess): Promise<NodeJS.Signals | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve(child.signalCode);
      return;
    }
    child.once('exit', (_code, signal) => resolve(signal));
  });
}
