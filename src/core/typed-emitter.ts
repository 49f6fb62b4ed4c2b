/**
 * A small typed event emitter whose `safeEmit` cannot be killed by a throwing
 * listener (the shape of mediasoup's `enhancedEvents.ts`, but each listener is
 * called in its own try/catch, so one bad listener does not starve the rest).
 *
 * A listener that throws is reported on the `listenererror` event with the
 * event name and the error. Nothing is swallowed silently: when nobody listens
 * to `listenererror` (or that listener throws too), the error is raised as a
 * process warning, which Node prints to stderr.
 */

/** Events every TypedEmitter has, besides its own. */
export interface TypedEmitterEvents {
  listenererror: [event: string, error: unknown];
}

/** A map from event name to the tuple of its arguments. */
export type EventMap<E> = { [K in keyof E]: unknown[] };

type AllEvents<E> = E & TypedEmitterEvents;
type Args<E, K extends keyof AllEvents<E>> = Extract<AllEvents<E>[K], unknown[]>;
type AnyListener = (...args: unknown[]) => void;

export class TypedEmitter<E extends EventMap<E>> {
  readonly #listeners = new Map<PropertyKey, AnyListener[]>();

  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof AllEvents<E>>(event: K, listener: (...args: Args<E, K>) => void): () => void {
    const list = this.#listeners.get(event) ?? [];
    list.push(listener as unknown as AnyListener);
    this.#listeners.set(event, list);
    return () => this.off(event, listener);
  }

  /** Adds a listener that is removed after its first call. */
  once<K extends keyof AllEvents<E>>(event: K, listener: (...args: Args<E, K>) => void): () => void {
    const off = this.on(event, (...args: Args<E, K>) => {
      off();
      listener(...args);
    });
    return off;
  }

  off<K extends keyof AllEvents<E>>(event: K, listener: (...args: Args<E, K>) => void): void {
    const list = this.#listeners.get(event);
    if (!list) {
      return;
    }
    const i = list.indexOf(listener as unknown as AnyListener);
    if (i >= 0) {
      list.splice(i, 1);
    }
  }

  listenerCount(event: keyof AllEvents<E>): number {
    return this.#listeners.get(event)?.length ?? 0;
  }

  removeAllListeners(): void {
    this.#listeners.clear();
  }

  /**
   * Calls every listener of `event` in order, each in its own try/catch.
   * Returns true when the event had listeners.
   */
  safeEmit<K extends keyof AllEvents<E>>(event: K, ...args: Args<E, K>): boolean {
    const list = this.#listeners.get(event);
    if (!list || list.length === 0) {
      return false;
    }
    for (const listener of [...list]) {
      try {
        listener(...args);
      } catch (error) {
        this.#reportListenerError(String(event), error);
      }
    }
    return true;
  }

  #reportListenerError(event: string, error: unknown): void {
    const list = this.#listeners.get('listenererror');
    if (event === 'listenererror' || !list || list.length === 0) {
      warn(event, error);
      return;
    }
    for (const listener of [...list]) {
      try {
        listener(event, error);
      } catch (error2) {
        warn('listenererror', error2);
      }
    }
  }
}

function warn(event: string, error: unknown): void {
  const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
  process.emitWarning(`listener of '${event}' threw: ${detail}`, { code: 'LIVEMASK_LISTENER_ERROR' });
}
