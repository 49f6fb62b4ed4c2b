import type { KeyObject } from 'node:crypto';
import { open, readdir, readFile, rm, truncate } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { MediaError, type Logger } from '../core/index.js';
import { FfmpegProcess } from '../media/index.js';
import { fsyncDir, isDurableTemp, writeFileDurable } from './durable-file.js';
import { EventLog, writeManifestSignature } from './event-log.js';
import { parseLog, sha256Hex } from './hash-chain.js';
import { FILES, isFile, listSessions, OPEN_SUFFIX, participantFiles, type SessionRef } from './layout.js';
import { buildManifest, EVENT, manifestBytes, segmentRecords, type SegmentRecord } from './manifest.js';
import { scanWebm } from './webm.js';

export interface RecoverOptions {
  signingKey: KeyObject;
  logger?: Logger;
  /** Only this room's sessions (the evidence worker's finalise job); default every room. */
  room?: string;
  /**
   * Whether the process that writes a session is alive (so the session is
   * not left open but being recorded). Default: its `session-started` names
   * this host and a pid other than this process's that is running.
   */
  writerAlive?: (writer: SessionWriter) => boolean;
}

export interface RecoveredSession {
  room: string;
  sessionId: string;
  /** Segments sealed by recovery. */
  segments: SegmentRecord[];
  /** Open segments with no complete frame, deleted. */
  discarded: string[];
  /** Bytes of a partly written last log line that were cut off. */
  droppedLogBytes: number;
  /**
   * The session was sealed but its writer died before the manifest's
   * signature: the manifest, which matched its log, was signed now.
   */
  signedOnly?: true;
}

/**
 * Seals the sessions a killed process left open (no manifest): cuts a partly
 * written last log line, seals each open segment up to its last complete
 * frame as `recovered` when ffmpeg decodes it, logs segments that were
 * sealed but not yet logged, then ends the session with a signed manifest.
 * Run it at start, before recording.
 */
export async function recover(root: string, options: RecoverOptions): Promise<RecoveredSession[]> {
  const out: RecoveredSession[] = [];
  const alive = options.writerAlive ?? writerAlive;
  for (const ref of await listSessions(root, options.room)) {
    const sealed = await isFile(join(ref.dir, FILES.manifest));
    if (sealed && (await isFile(join(ref.dir, FILES.signature)))) {
      continue;
    }
    // Workers of one host share its evidence root: never seal what another live worker still records.
    const writer = await readSessionWriter(ref.dir);
    if (alive(writer)) {
      options.logger?.info({ room: ref.room, session: ref.sessionId, writer: writer.workerId }, 'evidence session left open: its writer is alive');
      continue;
    }
    if (sealed) {
      const signed = await signManifest(ref, options);
      if (signed) {
        out.push(signed);
      }
      continue;
    }
    out.push(await recoverSession(ref, options));
  }
  return out;
}

/**
 * A writer killed between writing `manifest.json` and `manifest.sig` left a
 * sealed session unsigned. The manifest is signed now, but only when it is
 * exactly the one its log gives (the log ends with `session-ended` and is
 * whole); otherwise it is left unsigned, for verify to report.
 */
async function signManifest(ref: SessionRef, options: RecoverOptions): Promise<RecoveredSession | undefined> {
  const bytes = await readFile(join(ref.dir, FILES.manifest));
  const text = await readFile(join(ref.dir, FILES.events), 'utf8');
  const { entries } = parseLog(text);
  const rebuilt = manifestBytes(buildManifest(ref.room, ref.sessionId, entries));
  const logger = options.logger?.child({ module: 'evidence', room: ref.room, session: ref.sessionId });
  if (!text.endsWith('\n') || entries.at(-1)?.type !== EVENT.sessionEnded || !rebuilt.equals(bytes)) {
    logger?.error('sealed evidence session has no signature, and its manifest does not match its log: left unsigned');
    return undefined;
  }
  await writeManifestSignature(ref.dir, bytes, options.signingKey);
  logger?.warn('sealed evidence session had no signature (its writer died before it): the manifest, which matches the log, is signed now');
  return { room: ref.room, sessionId: ref.sessionId, segments: [], discarded: [], droppedLogBytes: 0, signedOnly: true };
}

/** `session-started` is a short line; more than this is not read. */
const FIRST_LINE_MAX = 16 * 1024;

export interface SessionWriter {
  host?: string;
  pid?: number;
  workerId?: string;
}

/** Who `session-started` says writes the session in `dir`; empty when the first line is unreadable. */
export async function readSessionWriter(dir: string): Promise<SessionWriter> {
  // The first line only: the log of a session being recorded may be long.
  const file = await open(join(dir, FILES.events), 'r');
  let text: string;
  try {
    const { buffer, bytesRead } = await file.read(Buffer.alloc(FIRST_LINE_MAX), 0, FIRST_LINE_MAX, 0);
    text = buffer.subarray(0, bytesRead).toString('utf8');
  } finally {
    await file.close();
  }
  const first = text.slice(0, text.indexOf('\n') + 1);
  const { entries } = parseLog(first);
  const data = entries[0]?.type === EVENT.sessionStarted ? entries[0].data : {};
  return {
    ...(typeof data.host === 'string' ? { host: data.host } : {}),
    ...(typeof data.pid === 'number' ? { pid: data.pid } : {}),
    ...(typeof data.workerId === 'string' ? { workerId: data.workerId } : {}),
  };
}

/** True when `writer` is another process of this host that is running now (a reused pid reads as alive: the session waits). */
export function writerAlive(writer: SessionWriter): boolean {
  if (writer.host !== hostname() || writer.pid === undefined || writer.pid === process.pid) {
    return false;
  }
  try {
    process.kill(writer.pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function recoverSession(ref: SessionRef, options: RecoverOptions): Promise<RecoveredSession> {
  const logger = options.logger?.child({ module: 'evidence', room: ref.room, session: ref.sessionId });
  await removeTemps(ref.dir);
  const logPath = join(ref.dir, FILES.events);
  const text = await readFile(logPath, 'utf8');
  const cut = text.lastIndexOf('\n') + 1;
  const droppedLogBytes = Buffer.byteLength(text.slice(cut), 'utf8');
  if (droppedLogBytes > 0) {
    await truncate(logPath, Buffer.byteLength(text.slice(0, cut), 'utf8'));
  }
  const { entries } = parseLog(text.slice(0, cut));
  const log = await EventLog.resume({ dir: ref.dir, room: ref.room, sessionId: ref.sessionId, signingKey: options.signingKey }, entries);
  await log.append(EVENT.sessionRecovered, { droppedLogBytes });
  const logged = new Set(segmentRecords(entries).map((s) => s.path));
  const result: RecoveredSession = { room: ref.room, sessionId: ref.sessionId, segments: [], discarded: [], droppedLogBytes };
  for (const name of await participantFiles(ref.dir)) {
    const m = /^([^/]+)\/(video|audio)-(\d{6})\.(webm|mkv)(\.open)?$/.exec(name);
    if (!m || logged.has(name.replace(/\.open$/, ''))) {
      continue;
    }
    const [, participant = '', kind = 'video', index = '0', ext = 'webm', open] = m;
    const path = `${participant}/${kind}-${index}.${ext}`;
    const record = await sealRecovered(ref.dir, path, open !== undefined, { participant, kind: kind as 'video' | 'audio', index: Number(index) });
    if (record) {
      await log.append(EVENT.segmentSealed, { ...record });
      result.segments.push(record);
    } else {
      await log.append(EVENT.segmentDiscarded, { path: `${path}${OPEN_SUFFIX}`, reason: 'no complete decodable frame' });
      result.discarded.push(path);
    }
  }
  await log.append(EVENT.sessionEnded, { reason: 'recovered' });
  await log.checkpoint();
  await log.close();
  await log.writeManifest();
  logger?.warn({ segments: result.segments.length, discarded: result.discarded.length, droppedLogBytes }, 'evidence session recovered');
  return result;
}

/** Seals one segment left behind; undefined (and the open file deleted) when nothing in it decodes. */
async function sealRecovered(
  dir: string,
  path: string,
  open: boolean,
  id: Pick<SegmentRecord, 'participant' | 'kind' | 'index'>,
): Promise<SegmentRecord | undefined> {
  const full = join(dir, path);
  const source = open ? `${full}${OPEN_SUFFIX}` : full;
  const bytes = await readFile(source);
  const scan = scanWebm(bytes);
  const first = scan.timecodes[0];
  if (!scan.headerOk || first === undefined) {
    await rm(source);
    return undefined;
  }
  const kept = bytes.subarray(0, scan.completeBytes);
  if (open) {
    await writeFileDurable(full, kept);
    if (!(await decodes(full))) {
      await rm(full);
      await fsyncDir(join(dir, id.participant));
      await rm(source);
      return undefined;
    }
    await rm(source);
  }
  return {
    path, ...id, sha256: sha256Hex(kept), bytes: kept.length, frames: scan.timecodes.length,
    firstMs: first, lastMs: scan.timecodes.at(-1) ?? first, recovered: true,
  };
}

/** True when ffmpeg decodes the whole file without an error. */
async function decodes(file: string): Promise<boolean> {
  const ff = new FfmpegProcess({ args: ['-v', 'error', '-nostdin', '-i', file, '-f', 'null', '-'] });
  const lines: string[] = [];
  ff.on('line', (line) => lines.push(line));
  try {
    return (await ff.wait()) === 'done' && lines.length === 0;
  } catch (err) {
    // A missing ffmpeg says nothing about the file: never discard evidence for it.
    if (err instanceof MediaError && err.code === 'FFMPEG_FAILED') {
      return false;
    }
    throw err;
  }
}

async function removeTemps(dir: string): Promise<void> {
  const dirs = [dir, ...(await readdir(dir, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => join(dir, e.name))];
  for (const d of dirs) {
    for (const name of await readdir(d)) {
      if (isDurableTemp(name)) {
        await rm(join(d, name));
      }
    }
  }
}
