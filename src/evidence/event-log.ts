import { sign, type KeyObject } from 'node:crypto';
import { join } from 'node:path';
import { AppendFile, writeFileDurable } from './durable-file.js';
import { checkpointMessage, nextEntry, type ChainEntry } from './hash-chain.js';
import { FILES } from './layout.js';
import { buildManifest, manifestBytes, type Manifest } from './manifest.js';

export interface EventLogOptions {
  dir: string;
  room: string;
  sessionId: string;
  signingKey: KeyObject;
}

/** One line of `checkpoints.jsonl`: an Ed25519 signature over the chain head at `seq`. */
export interface Checkpoint {
  seq: number;
  head: string;
  at: string;
  /** base64 Ed25519 signature of {@link checkpointMessage}. */
  sig: string;
}

/**
 * A session's hash-chained event log, its signed checkpoints and its final
 * signed manifest. Entries are chained in call order; each is written and
 * fdatasynced before its promise resolves.
 */
export class EventLog {
  readonly #options: EventLogOptions;
  readonly #log: AppendFile;
  readonly #checkpoints: AppendFile;
  readonly #entries: ChainEntry[];
  #lastCheckpointSeq = -1;

  private constructor(options: EventLogOptions, log: AppendFile, checkpoints: AppendFile, entries: ChainEntry[]) {
    this.#options = options;
    this.#log = log;
    this.#checkpoints = checkpoints;
    this.#entries = entries;
  }

  /** Starts a new log; fails when one exists. */
  static async create(options: EventLogOptions): Promise<EventLog> {
    const log = await AppendFile.open(join(options.dir, FILES.events), 'create');
    const checkpoints = await AppendFile.open(join(options.dir, FILES.checkpoints), 'create');
    return new EventLog(options, log, checkpoints, []);
  }

  /** Continues an existing log whose entries were read back (crash recovery). */
  static async resume(options: EventLogOptions, entries: ChainEntry[]): Promise<EventLog> {
    const log = await AppendFile.open(join(options.dir, FILES.events), 'append');
    const checkpoints = await AppendFile.open(join(options.dir, FILES.checkpoints), 'append');
    return new EventLog(options, log, checkpoints, [...entries]);
  }

  get entries(): readonly ChainEntry[] {
    return this.#entries;
  }

  /** Chains an entry now; resolves once it is on disk. */
  append(type: string, data: Record<string, unknown>): Promise<ChainEntry> {
    const entry = nextEntry(this.#entries.at(-1), type, data, new Date());
    this.#entries.push(entry);
    return this.#log.append(Buffer.from(`${JSON.stringify(entry)}\n`, 'utf8'), { sync: true }).then(() => entry);
  }

  /** Signs the current head into checkpoints.jsonl, unless it is already signed. */
  async checkpoint(): Promise<void> {
    const head = this.#entries.at(-1);
    if (!head || head.seq === this.#lastCheckpointSeq) {
      return;
    }
    this.#lastCheckpointSeq = head.seq;
    const { room, sessionId, signingKey } = this.#options;
    const sig = sign(null, checkpointMessage(room, sessionId, head.seq, head.hash), signingKey).toString('base64');
    const cp: Checkpoint = { seq: head.seq, head: head.hash, at: new Date().toISOString(), sig };
    await this.#checkpoints.append(Buffer.from(`${JSON.stringify(cp)}\n`, 'utf8'), { sync: true });
  }

  /** Writes manifest.json and its detached signature manifest.sig, each durably. */
  async writeManifest(): Promise<Manifest> {
    const { dir, room, sessionId, signingKey } = this.#options;
    const manifest = buildManifest(room, sessionId, this.#entries);
    const bytes = manifestBytes(manifest);
    await writeFileDurable(join(dir, FILES.manifest), bytes);
    await writeManifestSignature(dir, bytes, signingKey);
    return manifest;
  }

  /** Waits for queued writes and closes both files; rejects with the first write error. */
  async close(): Promise<void> {
    const results = await Promise.allSettled([this.#log.close(), this.#checkpoints.close()]);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      throw failed.reason;
    }
  }
}

/** Signs the manifest's bytes into `manifest.sig`, written last: a session is sealed once it exists. */
export async function writeManifestSignature(dir: string, bytes: Buffer, signingKey: KeyObject): Promise<void> {
  await writeFileDurable(join(dir, FILES.signature), `${sign(null, bytes, signingKey).toString('base64')}\n`);
}
