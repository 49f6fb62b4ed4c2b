import { AbortedError, LivemaskError } from '../core/index.js';

/** Waits with a deadline and an AbortSignal; the small timing helpers of the client. */

/** The error an aborted signal stands for: its reason when that is a LivemaskError (the client's CLOSED), else AbortedError. */
export function abortError(signal: AbortSignal): LivemaskError {
  return signal.reason instanceof LivemaskError ? signal.reason : new AbortedError('aborted', { cause: signal.reason });
}

/** Resolves after `ms`; rejects at once when `signal` aborts. */
export function delay(ms: number, signal: AbortSignal): Promise<void> {
  return within(new Promise<never>(() => undefined), ms, signal, () => undefined).then(() => undefined);
}

/**
 * Settles as `work` does, unless `ms` pass first (then it resolves with
 * `onTimeout()` or rejects with what it throws) or `signal` aborts (then it
 * rejects with {@link abortError}).
 */
export function within<T, U>(work: Promise<T>, ms: number, signal: AbortSignal, onTimeout: () => U): Promise<T | U> {
  if (signal.aborted) {
    return Promise.reject(abortError(signal));
  }
  return new Promise<T | U>((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortError(signal));
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      try {
        resolve(onTimeout());
      } catch (err) {
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    }, Math.max(0, ms));
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}
