import { userInfo } from 'node:os';
import { LivemaskError } from '../core/index.js';

/** The OS user name: the default actor of an evidence access from the command line. */
export function osUser(): string {
  try {
    const name = userInfo().username;
    if (name.trim() !== '') {
      return name;
    }
  } catch (err) {
    // No passwd entry for this uid (a container, say): fall through to the environment.
    if (!(err instanceof Error)) {
      throw err;
    }
  }
  const fromEnv = process.env.USER ?? process.env.LOGNAME;
  if (fromEnv === undefined || fromEnv.trim() === '') {
    throw new LivemaskError('BAD_USAGE', 'cannot tell the OS user name: give --actor <id>');
  }
  return fromEnv;
}
