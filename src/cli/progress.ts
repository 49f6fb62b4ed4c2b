/**
 * Progress for long commands: a bar redrawn in place on a TTY, plain lines
 * (every 10%) otherwise, so that logs stay readable.
 */
export class Progress {
  readonly #out: NodeJS.WriteStream;
  readonly #label: string;
  readonly #started = performance.now();
  #lastDecile = -1;
  #lastDraw = 0;

  constructor(out: NodeJS.WriteStream, label: string) {
    this.#out = out;
    this.#label = label;
  }

  update(done: number, total: number | undefined, fps: number): void {
    const secs = (performance.now() - this.#started) / 1000;
    const speed = secs > 0 ? done / fps / secs : 0;
    const frac = total ? Math.min(1, done / total) : undefined;
    if (this.#out.isTTY) {
      const now = performance.now();
      if (now - this.#lastDraw < 100 && done !== total) {
        return;
      }
      this.#lastDraw = now;
      const width = 30;
      const filled = frac === undefined ? 0 : Math.round(frac * width);
      const bar = frac === undefined ? '' : `[${'#'.repeat(filled)}${' '.repeat(width - filled)}] ${(frac * 100).toFixed(0)}% `;
      this.#out.write(`\r${this.#label} ${bar}${done}${total ? `/${total}` : ''} frames ${speed.toFixed(2)}x real time`);
      return;
    }
    const decile = frac === undefined ? Math.floor(done / 100) : Math.floor(frac * 10);
    if (decile !== this.#lastDecile) {
      this.#lastDecile = decile;
      const pct = frac === undefined ? '' : ` (${(frac * 100).toFixed(0)}%)`;
      this.#out.write(`${this.#label}: ${done}${total ? `/${total}` : ''} frames${pct}, ${speed.toFixed(2)}x real time\n`);
    }
  }

  finish(): void {
    if (this.#out.isTTY) {
      this.#out.write('\n');
    }
  }
}
