import { createHash } from 'node:crypto';

/**
 * The session's hash chain: each event-log entry holds the hash of the one
 * before, so an edit, a removal or a reordering breaks the chain at the
 * first entry it touches. Pure: no I/O.
 */

/** One line of `events.jsonl`. */
export interface ChainEntry {
  /** 0 for the first entry, then +1 per entry. */
  seq: number;
  /** ISO 8601 time the entry was appended. */
  at: string;
  type: string;
  data: Record<string, unknown>;
  /** `hash` of the previous entry; {@link GENESIS} for seq 0. */
  prev: string;
  /** SHA-256 (hex) of the canonical JSON of `{ seq, at, type, data, prev }`. */
  hash: string;
}

/** The `prev` of the first entry. */
export const GENESIS = '0'.repeat(64);

/** JSON with object keys sorted at every depth, so that a hash does not depend on key order. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) {
    return value.map(sortKeys);
  }
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      out[key] = sortKeys((value as Record<string, unknown>)[key]);
    }
    return out;
  }
  return value;
}

export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The hash an entry must carry. */
export function entryHash(e: Omit<ChainEntry, 'hash'>): string {
  return sha256Hex(canonicalJson({ seq: e.seq, at: e.at, type: e.type, data: e.data, prev: e.prev }));
}

/** The entry that follows `prev` (undefined for the first). */
export function nextEntry(prev: Pick<ChainEntry, 'seq' | 'hash'> | undefined, type: string, data: Record<string, unknown>, at: Date): ChainEntry {
  const body = { seq: prev ? prev.seq + 1 : 0, at: at.toISOString(), type, data, prev: prev ? prev.hash : GENESIS };
  return { ...body, hash: entryHash(body) };
}

/** What a checkpoint signs: the chain head at a sequence number. */
export function checkpointMessage(room: string, sessionId: string, seq: number, head: string): Buffer {
  return Buffer.from(`livemask-evidence-checkpoint\n${room}\n${sessionId}\n${seq}\n${head}\n`, 'utf8');
}

export type ChainProblemKind = 'event-edited' | 'event-removed' | 'event-reordered' | 'log-truncated';

export interface ChainProblem {
  kind: ChainProblemKind;
  /** 1-based line of events.jsonl. */
  line: number;
  message: string;
}

/**
 * Parses the log's text into entries; a last line without its newline, or
 * one that is not JSON, reads as a truncated log.
 */
export function parseLog(text: string): { entries: ChainEntry[]; problem?: ChainProblem } {
  const lines = text.split('\n');
  const last = lines.pop();
  const entries: ChainEntry[] = [];
  for (const [i, line] of lines.entries()) {
    const entry = parseEntry(line);
    if (!entry) {
      return { entries, problem: { kind: 'event-edited', line: i + 1, message: 'entry is not a well-formed log entry' } };
    }
    entries.push(entry);
  }
  if (last !== undefined && last !== '') {
    return { entries, problem: { kind: 'log-truncated', line: lines.length + 1, message: 'last line is cut short (no newline)' } };
  }
  return { entries };
}

function parseEntry(line: string): ChainEntry | undefined {
  try {
    const v = JSON.parse(line) as Partial<ChainEntry> | null;
    if (
      v && typeof v.seq === 'number' && typeof v.at === 'string' && typeof v.type === 'string' &&
      v.data !== null && typeof v.data === 'object' && typeof v.prev === 'string' && typeof v.hash === 'string'
    ) {
      return v as ChainEntry;
    }
    return undefined;
  } catch {
    return undefined;
  }
}

/**
 * Checks the chain's sequence numbers, hashes and links. The first problem
 * wins: a missing seq is a removal, a seq out of order a reordering, and an
 * entry whose hash or link does not hold an edit.
 */
export function checkChain(entries: readonly ChainEntry[]): ChainProblem | undefined {
  const seqs = entries.map((e) => e.seq);
  for (const [i, e] of entries.entries()) {
    if (e.seq === i) {
      continue;
    }
    const line = i + 1;
    const sorted = [...seqs].sort((a, b) => a - b);
    const isPermutation = sorted.every((s, j) => s === j);
    if (isPermutation || seqs.slice(i + 1).includes(i)) {
      return { kind: 'event-reordered', line, message: `entry seq ${e.seq} found where seq ${i} belongs` };
    }
    return { kind: 'event-removed', line, message: `entry seq ${i} is missing (next is seq ${e.seq})` };
  }
  let prev = GENESIS;
  for (const [i, e] of entries.entries()) {
    if (entryHash(e) !== e.hash) {
      return { kind: 'event-edited', line: i + 1, message: `entry seq ${e.seq} (${e.type}) does not match its hash` };
    }
    if (e.prev !== prev) {
      return { kind: 'event-edited', line: i, message: `entry seq ${e.seq - 1} was changed: seq ${e.seq} links to another hash` };
    }
    prev = e.hash;
  }
  return undefined;
}
