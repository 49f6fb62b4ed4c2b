import { ZodError } from 'zod';
import { LivemaskError } from '../core/index.js';

/** Exit codes of the `livemask` command, stable for scripts. */
export const EXIT = {
  ok: 0,
  failed: 1,
  usage: 2,
  unreadableInput: 3,
  ffmpeg: 4,
} as const;

/** Maps an error to its exit code and a one-line reason. */
export function describeFailure(err: unknown): { code: number; reason: string } {
  if (err instanceof ZodError) {
    const first = err.issues[0];
    // Config fields are camelCase; their flags are kebab-case (tileEvery -> --tile-every).
    const field = (first?.path.join('.') ?? '?').replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
    return { code: EXIT.usage, reason: `invalid --${field}: ${first?.message ?? 'bad value'}` };
  }
  if (err instanceof LivemaskError) {
    const reason = oneLine(err.message);
    switch (err.code) {
      case 'BAD_USAGE':
      case 'CONFIG_INVALID':
      case 'EVIDENCE_KEY':
      case 'EVIDENCE_BAD_ID':
      case 'STORE_BAD_KEY':
        return { code: EXIT.usage, reason };
      case 'INPUT_UNREADABLE':
      case 'EVIDENCE_NOT_FOUND':
      case 'STORE_NOT_FOUND':
        return { code: EXIT.unreadableInput, reason };
      case 'FFMPEG_MISSING':
      case 'FFMPEG_TOO_OLD':
      case 'FFMPEG_FAILED':
        return { code: EXIT.ffmpeg, reason };
      default:
        return { code: EXIT.failed, reason };
    }
  }
  return { code: EXIT.failed, reason: oneLine(err instanceof Error ? err.message : String(err)) };
}

function oneLine(text: string): string {
  const first = text.split('\n').find((l) => l.trim() !== '') ?? text;
  return first.trim();
}
