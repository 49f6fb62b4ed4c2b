import { verify as verifySignature, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EvidenceError } from '../core/index.js';
import { continuity, type Continuity } from './continuity.js';
import type { Checkpoint } from './event-log.js';
import { checkChain, checkpointMessage, parseLog, sha256Hex, type ChainEntry } from './hash-chain.js';
import { FILES, isFile, listSessions, participantFiles, type SessionRef } from './layout.js';
import { segmentRecords, type Manifest, type SegmentRecord } from './manifest.js';

export type ProblemKind =
  | 'segment-altered'
  | 'segment-missing'
  | 'segment-reordered'
  | 'segment-added'
  | 'event-edited'
  | 'event-removed'
  | 'event-reordered'
  | 'event-added'
  | 'log-truncated'
  | 'signature-bad'
  | 'signature-missing'
  /** An export bundle's `bundle.json` is missing, unreadable, or names something the bundle does not hold. */
  | 'bundle-invalid'
  /** An export bundle's clip differs from the one it was exported with. */
  | 'clip-altered';

export interface Problem {
  kind: ProblemKind;
  /** Where, relative to the evidence root (or the bundle): `room/session/file[:line]`. */
  where: string;
  message: string;
}

export interface VerifyCounts {
  sessions: number;
  segments: number;
  events: number;
  checkpoints: number;
  bytes: number;
}

/** `continuity` is there when a whole room verifies: its sessions in order and the fleet takeovers between them. */
export type VerifyResult = { ok: true; counts: VerifyCounts; continuity?: Continuity } | { ok: false; problem: Problem; counts: VerifyCounts };

/**
 * Verifies a room's sessions (or one) against `publicKey`, the key from
 * configuration; the `public-key.pem` stored with a session is never trusted.
 * Reports the first problem found. Throws EVIDENCE_NOT_FOUND when there is
 * nothing to verify.
 */
export async function verify(root: string, room: string, publicKey: KeyObject, sessionId?: string): Promise<VerifyResult> {
  const sessions = (await listSessions(root, room)).filter((s) => sessionId === undefined || s.sessionId === sessionId);
  if (sessions.length === 0) {
    throw new EvidenceError('EVIDENCE_NOT_FOUND', `no evidence for room ${room}${sessionId !== undefined ? ` session ${sessionId}` : ''} under ${root}`);
  }
  const counts: VerifyCounts = { sessions: 0, segments: 0, events: 0, checkpoints: 0, bytes: 0 };
  const verified: { sessionId: string; session: SignedSession }[] = [];
  for (const ref of sessions) {
    const checked = await verifySession(ref, publicKey, counts);
    if (!checked.ok) {
      return { ok: false, problem: checked.problem, counts };
    }
    counts.sessions += 1;
    verified.push({ sessionId: ref.sessionId, session: checked.session });
  }
  return sessionId === undefined ? { ok: true, counts, continuity: continuity(verified) } : { ok: true, counts };
}

async function readText(path: string): Promise<string | undefined> {
  return (await isFile(path)) ? readFile(path, 'utf8') : undefined;
}

/** A session's signed files, once their signatures and chain hold. */
export interface SignedSession {
  manifest: Manifest;
  entries: ChainEntry[];
  checkpoints: Checkpoint[];
  /** Every segment the chain logs as sealed. */
  segments: SegmentRecord[];
}

/**
 * Picks the segments that must be present in the session's directory (all
 * of them for the evidence root; an export's for a bundle), or names why
 * the directory cannot hold a valid set.
 */
export type SegmentSelector = (session: SignedSession) => { ok: true; segments: readonly SegmentRecord[] } | { ok: false; problem: Problem };

export type SessionCheck = { ok: true; session: SignedSession } | { ok: false; problem: Problem };

/** `room/session/file[:line]`: where a problem is, relative to the evidence root (or to a bundle). */
export function whereIn(ref: Pick<SessionRef, 'room' | 'sessionId'>, file: string, line?: number): string {
  return `${ref.room}/${ref.sessionId}/${file}${line !== undefined ? `:${line}` : ''}`;
}

/**
 * The checks of one session directory, shared by the evidence root's
 * `verify` and an export bundle's `verifyBundle`: the manifest's and the
 * checkpoints' signatures, the chain against them, then each selected
 * segment present with its sealed hash and no other file. Adds to `counts`
 * (`segments` and `bytes` count the selected segments).
 */
export async function verifySession(
  ref: SessionRef,
  key: KeyObject,
  counts: VerifyCounts,
  select: SegmentSelector = (s) => ({ ok: true, segments: s.segments }),
): Promise<SessionCheck> {
  const signed = await checkSigned(ref, key);
  if (!signed.ok) {
    return signed;
  }
  const session = signed.session;
  const selected = select(session);
  if (!selected.ok) {
    return selected;
  }
  const files = await checkSegmentFiles(ref, selected.segments, session.segments);
  if (typeof files !== 'number') {
    return { ok: false, problem: files };
  }
  counts.bytes += files;
  counts.segments += selected.segments.length;
  counts.events += session.entries.length;
  counts.checkpoints += session.checkpoints.length;
  return { ok: true, session };
}

/** Steps 1 to 3: the manifest and checkpoint signatures against the configured key, and the chain against what they sign. */
async function checkSigned(ref: SessionRef, key: KeyObject): Promise<SessionCheck> {
  const at = (file: string, line?: number): string => whereIn(ref, file, line);
  const fail = (kind: ProblemKind, where: string, message: string): SessionCheck => ({ ok: false, problem: { kind, where, message } });

  // 1. The manifest and its signature, against the configured key.
  const manifestText = await readText(join(ref.dir, FILES.manifest));
  const sigText = await readText(join(ref.dir, FILES.signature));
  if (manifestText === undefined || sigText === undefined) {
    const which = manifestText === undefined ? FILES.manifest : FILES.signature;
    return fail('signature-missing', at(which), `no ${which}: the session is still open, or was not recovered after a crash`);
  }
  if (!verifySignature(null, Buffer.from(manifestText, 'utf8'), key, Buffer.from(sigText.trim(), 'base64'))) {
    return fail('signature-bad', at(FILES.signature), 'manifest signature does not verify with the configured public key');
  }
  const manifest = JSON.parse(manifestText) as Manifest;

  // 2. Every checkpoint's signature.
  const cpText = await readText(join(ref.dir, FILES.checkpoints));
  if (cpText === undefined || cpText.trim() === '') {
    return fail('signature-missing', at(FILES.checkpoints), 'no signed checkpoints');
  }
  const checkpoints: Checkpoint[] = [];
  for (const [i, line] of cpText.trimEnd().split('\n').entries()) {
    const cp = parseCheckpoint(line);
    const ok = cp !== undefined &&
      verifySignature(null, checkpointMessage(ref.room, ref.sessionId, cp.seq, cp.head), key, Buffer.from(cp.sig, 'base64'));
    if (!ok) {
      return fail('signature-bad', at(FILES.checkpoints, i + 1), 'checkpoint signature does not verify with the configured public key');
    }
    checkpoints.push(cp);
  }

  // 3. The event log: well formed, chained, and matching what was signed.
  const logText = (await readText(join(ref.dir, FILES.events))) ?? '';
  const parsed = parseLog(logText);
  const chainProblem = parsed.problem ?? checkChain(parsed.entries);
  if (chainProblem) {
    return fail(chainProblem.kind, at(FILES.events, chainProblem.line), chainProblem.message);
  }
  const entries = parsed.entries;
  const signedProblem = checkAgainstSigned(entries, manifest, checkpoints);
  if (signedProblem) {
    return fail(signedProblem.kind, at(FILES.events, signedProblem.line), signedProblem.message);
  }
  return { ok: true, session: { manifest, entries, checkpoints, segments: segmentRecords(entries) } };
}

/**
 * Step 4: each expected segment present with its sealed hash, in its place,
 * and no other file in the participant directories. Resolves with the bytes
 * checked, or the first problem.
 */
async function checkSegmentFiles(ref: SessionRef, expected: readonly SegmentRecord[], all: readonly SegmentRecord[]): Promise<number | Problem> {
  const at = (file: string): string => whereIn(ref, file);
  const problem = (kind: ProblemKind, where: string, message: string): Problem => ({ kind, where, message });
  let bytesChecked = 0;
  for (const s of expected) {
    const path = join(ref.dir, s.path);
    if (!(await isFile(path))) {
      return problem('segment-missing', at(s.path), `sealed segment ${s.index} of ${s.participant}'s ${s.kind} is missing`);
    }
    const bytes = await readFile(path);
    const hash = sha256Hex(bytes);
    if (hash !== s.sha256) {
      const other = all.find((o) => o.sha256 === hash);
      return other
        ? problem('segment-reordered', at(s.path), `holds the content of ${other.path}`)
        : problem('segment-altered', at(s.path), 'SHA-256 differs from the sealed hash');
    }
    bytesChecked += bytes.length;
  }
  const names = new Set(expected.map((s) => s.path));
  for (const name of await participantFiles(ref.dir)) {
    if (!names.has(name)) {
      const sealed = all.some((s) => s.path === name);
      return problem('segment-added', at(name), sealed ? 'sealed segment is not one this directory should hold' : 'file is not a sealed segment of this session');
    }
  }
  return bytesChecked;
}

function checkAgainstSigned(
  entries: readonly ChainEntry[],
  manifest: Manifest,
  checkpoints: readonly Checkpoint[],
): { kind: ProblemKind; line: number; message: string } | undefined {
  for (const cp of checkpoints) {
    const e = entries[cp.seq];
    if (!e) {
      return { kind: 'log-truncated', line: entries.length, message: `log ends at seq ${entries.length - 1}; a signed checkpoint covers seq ${cp.seq}` };
    }
    if (e.hash !== cp.head) {
      return { kind: 'event-edited', line: cp.seq + 1, message: `chain differs from the signed checkpoint at seq ${cp.seq}` };
    }
  }
  if (entries.length < manifest.chain.count) {
    return { kind: 'log-truncated', line: entries.length, message: `log has ${entries.length} entries; the signed manifest has ${manifest.chain.count}` };
  }
  if (entries.length > manifest.chain.count) {
    return { kind: 'event-added', line: manifest.chain.count + 1, message: `entries after the signed end of the log (${manifest.chain.count} entries)` };
  }
  if (entries.at(-1)?.hash !== manifest.chain.head) {
    return { kind: 'event-edited', line: entries.length, message: 'chain head differs from the signed manifest' };
  }
  return undefined;
}

function parseCheckpoint(line: string): Checkpoint | undefined {
  try {
    const v = JSON.parse(line) as Partial<Checkpoint> | null;
    return v && typeof v.seq === 'number' && typeof v.head === 'string' && typeof v.sig === 'string' && typeof v.at === 'string'
      ? (v as Checkpoint)
      : undefined;
  } catch {
    return undefined;
  }
}
