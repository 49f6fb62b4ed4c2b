import { parseArgs } from 'node:util';
import { LivemaskError } from '../core/index.js';
import { EXIT } from './exit-codes.js';

/**
 * `livemask bench [--ep cpu|cuda] [--clips a,b] [--detect-batch N] [--quick]`: the benchmark in
 * bench/ (compiled into dist/bench/ with the package), loaded on demand so
 * that the other commands do not load it.
 */
export async function benchCommand(args: string[]): Promise<number> {
  let values: { ep?: string; clips?: string; 'detect-batch'?: string; quick?: boolean };
  try {
    ({ values } = parseArgs({
      args,
      options: { ep: { type: 'string' }, clips: { type: 'string' }, 'detect-batch': { type: 'string' }, quick: { type: 'boolean' } },
      allowPositionals: false,
      strict: true,
    }));
  } catch (err) {
    throw new LivemaskError('BAD_USAGE', err instanceof Error ? err.message : String(err));
  }
  const { parseBenchOptions, runBench } = await import('../../bench/index.js');
  const options = parseBenchOptions({
    ...(values.ep !== undefined ? { ep: values.ep } : {}),
    ...(values.clips !== undefined ? { clips: values.clips.split(',').map((c) => c.trim()) } : {}),
    ...(values['detect-batch'] !== undefined ? { 'detect-batch': values['detect-batch'] } : {}),
    quick: values.quick === true,
  });
  await runBench(options);
  exitIfStillHeld(10_000);
  return EXIT.ok;
}

/**
 * Everything the bench starts (workers, peers, ffmpeg) is stopped before the
 * result is written. Should a handle still hold the event loop, say which
 * kinds after `ms` and exit with the code set, instead of hanging the caller
 * (CI runs the bench after its tests). The timer itself holds nothing.
 */
function exitIfStillHeld(ms: number): void {
  setTimeout(() => {
    const held = process.getActiveResourcesInfo().filter((r) => r !== 'Timeout');
    process.stderr.write(`bench: the process was still held ${ms / 1000} s after the result was written (${held.join(', ')}); exiting\n`);
    process.exit(process.exitCode ?? EXIT.ok);
  }, ms).unref();
}
