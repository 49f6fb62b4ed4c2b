import { createPublicKey, type KeyObject } from 'node:crypto';
import { constants } from 'node:fs';
import { copyFile, mkdir, readdir, readFile, rename, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { EvidenceError, LivemaskError, type Logger } from '../core/index.js';
import { clipExtension, remuxClip } from './export-clip.js';
import { coveringSegments, parseIsoTime, parseRange, planClip, segmentWallTimes, timelineFor, type TimedSegment, type TimelineEvent } from './export-plan.js';
import { BUNDLE_FILES, BUNDLE_FORMAT, REPORT_NOTES, reportText, type BundleIndex, type BundleTimeline, type ExportReport } from './export-report.js';
import { canonicalJson, parseLog, sha256Hex } from './hash-chain.js';
import { checkId, FILES, isFile, listSessions, type SessionRef } from './layout.js';
import type { Manifest } from './manifest.js';
import {
  verifySession, whereIn, type Problem, type ProblemKind, type SegmentSelector, type SignedSession, type VerifyCounts, type VerifyResult,
} from './verify.js';

export interface ExportOptions {
  /** The evidence root, `<data>/evidence`. */
  root: string;
  room: string;
  /** The range `[from, to)`: ISO 8601 times with a Z or an offset. */
  from: string;
  to: string;
  /** The bundle directory to create; it must not exist, or be empty. */
  out: string;
  /** Who exports and why: written into the report (the caller appends the audit entry). */
  actor: string;
  reason: string;
  /** From configuration: the source is verified with it before anything is copied. */
  publicKey: KeyObject;
  signal?: AbortSignal;
  ffmpegPath?: string;
  logger?: Logger;
}

export interface ExportResult {
  /** The bundle directory. */
  dir: string;
  report: ExportReport;
  /** SHA-256 of `report.json` and of `bundle.json` as written. */
  reportSha256: string;
  bundleSha256: string;
}

/** The session files a bundle carries besides its segments (not `public-key.pem`: a verifier brings its own key). */
const SESSION_FILES = [FILES.manifest, FILES.signature, FILES.checkpoints, FILES.events] as const;

interface Source {
  ref: SessionRef;
  session: SignedSession;
  counts: VerifyCounts;
  covering: TimedSegment[];
  timeline: TimelineEvent[];
}

const zeroCounts = (): VerifyCounts => ({ sessions: 0, segments: 0, events: 0, checkpoints: 0, bytes: 0 });

/**
 * Exports a room's evidence over a time range into a bundle directory: the
 * segments covering the range (byte-identical, at their session-relative
 * paths), each session's signed manifest, checkpoints and whole event log,
 * the range's timeline, one clip with every track remuxed without
 * re-encoding, `bundle.json`, and a verification report. The source
 * sessions are verified first, and the bundle after it is written; the
 * bundle appears only when all of it succeeded. Does not audit: the caller
 * appends the audit entry (the CLI and the HTTP layer each do).
 *
 * Throws BAD_USAGE (bad options or output directory), EVIDENCE_NOT_FOUND
 * (no recording in the range), EVIDENCE_INVALID (the source does not
 * verify) or FFMPEG_*.
 */
export async function exportEvidence(o: ExportOptions): Promise<ExportResult> {
  for (const [flag, value] of [['--actor', o.actor], ['--reason', o.reason]] as const) {
    if (value.trim() === '') {
      throw new LivemaskError('BAD_USAGE', `an export needs ${flag}`);
    }
  }
  checkId('room', o.room);
  const { fromMs, toMs } = parseRange(o.from, o.to);
  const out = resolve(o.out);
  await checkOutput(out, resolve(o.root));
  const sources = await verifiedSources(o, fromMs, toMs);
  await mkdir(dirname(out), { recursive: true });
  const stage = `${out}.partial-${process.pid}-${Date.now()}`;
  try {
    const written = await writeBundle(stage, o, sources, new Date(fromMs).toISOString(), new Date(toMs).toISOString());
    const check = await verifyBundle(stage, o.publicKey);
    if (!check.ok) {
      throw new EvidenceError('EVIDENCE_IO', `the written bundle does not verify: ${check.problem.kind} at ${check.problem.where}: ${check.problem.message}`);
    }
    const report = makeReport(o, sources, written, check.counts);
    const reportSha256 = await writeJson(join(stage, BUNDLE_FILES.report), report);
    await writeFile(join(stage, BUNDLE_FILES.reportText), reportText(report));
    await moveInto(stage, out);
    o.logger?.info({ room: o.room, segments: check.counts.segments, sessions: sources.length }, 'evidence exported');
    return { dir: out, report, reportSha256, bundleSha256: written.sha256 };
  } catch (err) {
    await rm(stage, { recursive: true, force: true });
    throw err;
  }
}

interface WrittenBundle {
  index: BundleIndex;
  /** SHA-256 of bundle.json. */
  sha256: string;
  /** Packets per clip stream, checked against the segments' frames. */
  packets: number[];
  timelineEvents: number;
}

/** Everything but the report: the sessions' files and segments, the clip, the timeline, then bundle.json. */
async function writeBundle(stage: string, o: ExportOptions, sources: readonly Source[], from: string, to: string): Promise<WrittenBundle> {
  const work = join(stage, '.work');
  await mkdir(work, { recursive: true });
  const bundleDir = (sessionId: string): string => join(stage, o.room, sessionId);
  for (const s of sources) {
    await copySession(s, bundleDir(s.ref.sessionId));
  }
  const tracks = planClip(sources.map((s) => ({ sessionId: s.ref.sessionId, entries: s.session.entries, covering: s.covering })));
  const clipName = clipExtension(tracks) === 'mkv' ? BUNDLE_FILES.clipMatroska : BUNDLE_FILES.clip;
  const clipPath = join(stage, clipName);
  const packets = await remuxClip({
    tracks, sessionDir: bundleDir, out: clipPath, workDir: work,
    ...(o.signal ? { signal: o.signal } : {}), ...(o.ffmpegPath !== undefined ? { ffmpegPath: o.ffmpegPath } : {}), ...(o.logger ? { logger: o.logger } : {}),
  });
  await rm(work, { recursive: true, force: true });
  const clipBytes = await readFile(clipPath);
  const timeline: BundleTimeline = { room: o.room, from, to, events: bundleTimeline(sources.map((s) => s.timeline)) };
  await writeJson(join(stage, BUNDLE_FILES.timeline), timeline);
  const index: BundleIndex = {
    format: BUNDLE_FORMAT, version: 1, room: o.room, from, to, exportedAt: new Date().toISOString(),
    sessions: sources.map((s) => ({ sessionId: s.ref.sessionId, segments: s.covering.map((t) => t.segment.path) })),
    clip: { path: clipName, sha256: sha256Hex(clipBytes), bytes: clipBytes.length, tracks },
    timeline: BUNDLE_FILES.timeline,
  };
  const sha256 = await writeJson(join(stage, BUNDLE_FILES.index), index);
  return { index, sha256, packets, timelineEvents: timeline.events.length };
}

function makeReport(o: ExportOptions, sources: readonly Source[], written: WrittenBundle, counts: VerifyCounts): ExportReport {
  const { index } = written;
  return {
    format: 'livemask-evidence-export-report', version: 1, room: o.room, from: index.from, to: index.to, exportedAt: index.exportedAt,
    actor: o.actor, reason: o.reason, publicKeySha256: keyFingerprint(o.publicKey),
    source: { intact: true, sessions: sources.map(reportSession) },
    bundle: {
      intact: true,
      counts,
      segments: sources.flatMap((s) => s.covering.map((t) => ({
        session: s.ref.sessionId, path: t.segment.path, sha256: t.segment.sha256, bytes: t.segment.bytes, frames: t.segment.frames,
        startAt: new Date(t.startMs).toISOString(), endAt: new Date(t.endMs).toISOString(), clock: t.clock,
      }))),
    },
    clip: {
      path: index.clip.path, sha256: index.clip.sha256, bytes: index.clip.bytes,
      remux: 'ffmpeg concat demuxer, -c copy (not re-encoded)',
      tracks: index.clip.tracks.map((t, i) => ({ ...t, stream: i, packets: written.packets[i] ?? 0, packetsIdentical: true as const })),
    },
    timeline: { path: index.timeline, events: written.timelineEvents },
    notes: REPORT_NOTES,
  };
}

/** The output must be new or an empty directory, and outside the evidence root. */
async function checkOutput(out: string, root: string): Promise<void> {
  const rel = relative(root, out);
  if (!isAbsolute(rel) && rel.split(sep)[0] !== '..') {
    throw new LivemaskError('BAD_USAGE', `the bundle directory ${out} must not be inside the evidence root`);
  }
  let isDir: boolean;
  try {
    isDir = (await stat(out)).isDirectory();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      return;
    }
    throw err;
  }
  if (!isDir || (await readdir(out)).length > 0) {
    throw new LivemaskError('BAD_USAGE', `the bundle directory ${out} exists and is not empty`);
  }
}

/** Replaces the empty (or absent) `out` with the finished stage directory. */
async function moveInto(stage: string, out: string): Promise<void> {
  await rmdir(out).then(undefined, (err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') {
      throw new LivemaskError('BAD_USAGE', `the bundle directory ${out} is no longer empty`, { cause: err });
    }
  });
  await rename(stage, out);
}

/** A cheap, unverified hint of when a session ran, to skip the sessions far from the range. */
async function mayOverlap(ref: SessionRef, fromMs: number, toMs: number): Promise<boolean> {
  const slackMs = 60_000;
  let start: number | undefined;
  let end: number | undefined;
  try {
    const m = JSON.parse(await readFile(join(ref.dir, FILES.manifest), 'utf8')) as Partial<Manifest>;
    start = Date.parse(m.startedAt ?? '');
    end = Date.parse(m.endedAt ?? '');
  } catch {
    // No manifest (an open session) or an unreadable one: decide by its log, and let verification speak.
  }
  if (start === undefined || !Number.isFinite(start)) {
    const first = parseLog(await readFile(join(ref.dir, FILES.events), 'utf8')).entries[0];
    start = Date.parse(first?.at ?? '');
  }
  const startsAfter = Number.isFinite(start) && start > toMs + slackMs;
  const endsBefore = end !== undefined && Number.isFinite(end) && end < fromMs - slackMs;
  return !startsAfter && !endsBefore;
}

/** The sessions that overlap the range, each verified in full; throws when one does not verify or nothing was recorded then. */
async function verifiedSources(o: ExportOptions, fromMs: number, toMs: number): Promise<Source[]> {
  const refs = await listSessions(o.root, o.room);
  if (refs.length === 0) {
    throw new EvidenceError('EVIDENCE_NOT_FOUND', `no evidence for room ${o.room}`);
  }
  const sources: Source[] = [];
  for (const ref of refs) {
    if (!(await mayOverlap(ref, fromMs, toMs))) {
      continue;
    }
    const counts = zeroCounts();
    const checked = await verifySession(ref, o.publicKey, counts);
    if (!checked.ok) {
      const p = checked.problem;
      throw new EvidenceError('EVIDENCE_INVALID',
        `refusing to export: the evidence does not verify: ${p.kind} at ${p.where}: ${p.message}`);
    }
    counts.sessions = 1;
    const covering = coveringSegments(segmentWallTimes(checked.session.entries), fromMs, toMs);
    const timeline = timelineFor(ref.sessionId, checked.session.entries, fromMs, toMs);
    if (covering.length > 0) {
      sources.push({ ref, session: checked.session, counts, covering, timeline });
    }
  }
  if (sources.length === 0) {
    const range = `${new Date(fromMs).toISOString()} .. ${new Date(toMs).toISOString()}`;
    throw new EvidenceError('EVIDENCE_NOT_FOUND', `no recording of room ${o.room} in ${range}`);
  }
  return sources;
}

async function copySession(s: Source, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const name of SESSION_FILES) {
    await copyFile(join(s.ref.dir, name), join(dir, name), constants.COPYFILE_EXCL);
  }
  for (const t of s.covering) {
    const dest = join(dir, t.segment.path);
    await mkdir(dirname(dest), { recursive: true });
    await copyFile(join(s.ref.dir, t.segment.path), dest, constants.COPYFILE_EXCL);
  }
}

/** Writes pretty JSON; resolves with the SHA-256 of the bytes written. */
async function writeJson(path: string, value: unknown): Promise<string> {
  const bytes = Buffer.from(`${JSON.stringify(value, null, 2)}\n`, 'utf8');
  await writeFile(path, bytes, { flag: 'wx' });
  return sha256Hex(bytes);
}

function bundleTimeline(perSession: readonly TimelineEvent[][]): TimelineEvent[] {
  return perSession.flat().sort((a, b) => Date.parse(a.at) - Date.parse(b.at) || a.session.localeCompare(b.session) || a.seq - b.seq);
}

function keyFingerprint(key: KeyObject): string {
  const pub = key.type === 'public' ? key : createPublicKey(key);
  return sha256Hex(pub.export({ type: 'spki', format: 'der' }));
}

function reportSession(s: Source): ExportReport['source']['sessions'][number] {
  const m = s.session.manifest;
  return { sessionId: s.ref.sessionId, startedAt: m.startedAt, endedAt: m.endedAt, recovered: m.recovered, chainHead: m.chain.head, counts: s.counts };
}

// ---------------------------------------------------------------------------------------------
// Checking a bundle

/**
 * Verifies an export bundle with only the public key: each session's
 * manifest and checkpoint signatures, its event log against them, and
 * exactly the segments covering the bundle's range (decided from the
 * signed log, as the export did) present with their sealed SHA-256 and no
 * other file; then the timeline against the verified logs and the clip
 * against `bundle.json`. Reports the first problem, named as `verify` names
 * them, relative to the bundle directory. Throws EVIDENCE_NOT_FOUND when
 * `dir` is not a directory.
 */
export async function verifyBundle(dir: string, publicKey: KeyObject): Promise<VerifyResult> {
  if (!(await isDirectory(dir))) {
    throw new EvidenceError('EVIDENCE_NOT_FOUND', `no bundle directory ${dir}`);
  }
  const counts = zeroCounts();
  const fail = (kind: ProblemKind, where: string, message: string): VerifyResult => ({ ok: false, problem: { kind, where, message }, counts });
  const index = await readIndex(dir);
  if ('kind' in index) {
    return { ok: false, problem: index, counts };
  }
  const fromMs = parseIsoTime('from', index.from);
  const toMs = parseIsoTime('to', index.to);
  const listed = new Set(index.sessions.map((s) => s.sessionId));
  for (const ref of await listSessions(dir, index.room)) {
    if (!listed.has(ref.sessionId)) {
      return fail('bundle-invalid', `${index.room}/${ref.sessionId}`, `session directory is not listed in ${BUNDLE_FILES.index}`);
    }
  }
  const timeline: TimelineEvent[][] = [];
  for (const s of index.sessions) {
    const ref: SessionRef = { room: index.room, sessionId: s.sessionId, dir: join(dir, index.room, s.sessionId) };
    const checked = await verifySession(ref, publicKey, counts, (session) => selectListed(ref, session, s.segments, fromMs, toMs));
    if (!checked.ok) {
      return { ok: false, problem: checked.problem, counts };
    }
    timeline.push(timelineFor(s.sessionId, checked.session.entries, fromMs, toMs));
    counts.sessions += 1;
  }
  const timelinePath = join(dir, index.timeline);
  const timelineText = (await isFile(timelinePath)) ? await readFile(timelinePath, 'utf8') : undefined;
  const expected: BundleTimeline = { room: index.room, from: index.from, to: index.to, events: bundleTimeline(timeline) };
  if (timelineText === undefined || !sameJson(timelineText, expected)) {
    return fail('event-edited', index.timeline, `${timelineText === undefined ? 'missing' : 'differs from the events of the verified logs in the range'}`);
  }
  const clipPath = join(dir, index.clip.path);
  if (!(await isFile(clipPath))) {
    return fail('clip-altered', index.clip.path, 'the clip is missing');
  }
  if (sha256Hex(await readFile(clipPath)) !== index.clip.sha256) {
    return fail('clip-altered', index.clip.path, `SHA-256 differs from the one in ${BUNDLE_FILES.index}`);
  }
  return { ok: true, counts };
}

/** The listed segments, when they are exactly the session's segments covering the range. */
function selectListed(ref: SessionRef, session: SignedSession, listed: readonly string[], fromMs: number, toMs: number): ReturnType<SegmentSelector> {
  const problem = (kind: ProblemKind, path: string, message: string): { ok: false; problem: Problem } => ({ ok: false, problem: { kind, where: whereIn(ref, path), message } });
  const sealed = new Set(session.segments.map((s) => s.path));
  const unknown = listed.find((p) => !sealed.has(p));
  if (unknown !== undefined) {
    return problem('segment-added', unknown, `listed in ${BUNDLE_FILES.index} but not a sealed segment of this session`);
  }
  const covering = coveringSegments(segmentWallTimes(session.entries), fromMs, toMs).map((t) => t.segment);
  const names = new Set(listed);
  const left = covering.find((s) => !names.has(s.path));
  if (left) {
    return problem('segment-missing', left.path, `sealed segment ${left.index} of ${left.participant}'s ${left.kind} covers the exported range but is not in the bundle`);
  }
  const extra = listed.find((p) => !covering.some((s) => s.path === p));
  if (extra !== undefined) {
    return problem('segment-added', extra, 'listed in the bundle but does not cover the exported range');
  }
  return { ok: true, segments: covering };
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') {
      return false;
    }
    throw err;
  }
}

function sameJson(text: string, expected: unknown): boolean {
  try {
    return canonicalJson(JSON.parse(text)) === canonicalJson(expected);
  } catch {
    return false;
  }
}

/** `bundle.json`, checked for shape; its ids are checked as directory names. */
async function readIndex(dir: string): Promise<BundleIndex | Problem> {
  const bad = (message: string): Problem => ({ kind: 'bundle-invalid', where: BUNDLE_FILES.index, message });
  let index: Partial<BundleIndex>;
  try {
    index = JSON.parse(await readFile(join(dir, BUNDLE_FILES.index), 'utf8')) as Partial<BundleIndex>;
  } catch (err) {
    return bad((err as NodeJS.ErrnoException).code === 'ENOENT' ? `no ${BUNDLE_FILES.index}: not an export bundle` : 'not valid JSON');
  }
  const shaped = index.format === BUNDLE_FORMAT && index.version === 1 && typeof index.room === 'string' &&
    typeof index.from === 'string' && typeof index.to === 'string' && typeof index.timeline === 'string' &&
    Array.isArray(index.sessions) && index.sessions.every((s) => typeof s.sessionId === 'string' && Array.isArray(s.segments) && s.segments.every((p) => typeof p === 'string')) &&
    typeof index.clip?.path === 'string' && typeof index.clip.sha256 === 'string';
  if (!shaped) {
    return bad(`not a ${BUNDLE_FORMAT} version 1 index`);
  }
  const full = index as BundleIndex;
  const ids = full.sessions.map((s) => s.sessionId);
  if (ids.length === 0 || new Set(ids).size !== ids.length) {
    return bad(ids.length === 0 ? 'lists no sessions' : 'lists a session twice');
  }
  try {
    checkId('room', full.room);
    full.sessions.forEach((s) => checkId('session', s.sessionId));
    parseRange(full.from, full.to);
  } catch (err) {
    return bad((err as Error).message);
  }
  const inside = [full.timeline, full.clip.path].every((p) => !p.includes('/') && !p.includes('\\') && !p.startsWith('.'));
  return inside ? full : bad('timeline and clip must be files at the top of the bundle');
}
