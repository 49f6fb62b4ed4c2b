import { execFile } from 'node:child_process';
import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  coveringSegments, EvidenceRecorder, exportEvidence, nextEntry, parseIsoTime, readAudit, segmentWallTimes, verifyAudit, verifyBundle,
  type BundleIndex, type BundleTimeline, type ChainEntry, type ExportReport, type ExportResult, type Manifest, type SegmentRecord,
} from '../../src/evidence/index.js';
import { hasTestData, noDataReason } from '../support/paths.js';
import { oggPackets, readIvf, sourceIvf, type SourceFrame } from './helpers.js';
import { runCli } from '../support/cli.js';

const exec = promisify(execFile);
const ROOM = 'room-x';
const SESSION = 's-export';
const md5 = (b: Uint8Array): string => createHash('md5').update(b).digest('hex');
const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const pem = (key: KeyObject, type: 'spki' | 'pkcs8'): string => key.export({ type, format: 'pem' }).toString();

/** ffmpeg framemd5 of one stream: decoded frames, or packets with `copy`. */
async function frameMd5(file: string, stream: string, copy = false): Promise<string[]> {
  const { stdout } = await exec('ffmpeg', ['-v', 'error', '-nostdin', '-i', file, '-map', stream, ...(copy ? ['-c', 'copy'] : []), '-f', 'framemd5', '-'], {
    maxBuffer: 64 * 1024 * 1024,
  });
  return stdout.split('\n').filter((l) => l !== '' && !l.startsWith('#')).map((l) => l.split(',').at(-1)?.trim() ?? '');
}

/** Calls `push` for each item when the wall clock reaches `t0 + ms`, with the arrival time. */
async function playInRealTime(t0: number, items: { ms: number; push: (arrivalMs: number) => void }[]): Promise<void> {
  const queue = [...items].sort((a, b) => a.ms - b.ms);
  let i = 0;
  await new Promise<void>((done) => {
    const timer = setInterval(() => {
      const now = Date.now();
      for (let item = queue[i]; item && t0 + item.ms <= now; item = queue[i]) {
        item.push(now);
        i += 1;
      }
      if (i >= queue.length) {
        clearInterval(timer);
        done();
      }
    }, 4);
  });
}


/** Every file under `dir`, relative, sorted. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => relative(dir, join(e.parentPath, e.name))).sort();
}

describe('export planning (pure)', () => {
  it('reads ISO times with a zone only, and real calendar days', () => {
    expect(parseIsoTime('--from', '2024-05-01T10:00:00Z')).toBe(Date.UTC(2024, 4, 1, 10));
    expect(parseIsoTime('--from', '2024-05-01T12:00+02:00')).toBe(Date.UTC(2024, 4, 1, 10));
    expect(parseIsoTime('--from', '2024-02-29T00:00:00.250Z')).toBe(Date.UTC(2024, 1, 29, 0, 0, 0, 250));
    for (const bad of ['2024-05-01T10:00:00', '2024-05-01', '2023-02-29T00:00:00Z', '2024-04-31T00:00Z', '2024-05-01T24:00Z', 'now', '']) {
      let error: unknown;
      try {
        parseIsoTime('--from', bad);
      } catch (err) {
        error = err;
      }
      expect(error, bad).toMatchObject({ code: 'BAD_USAGE', message: expect.stringMatching(/^--from must be an ISO 8601 time/) as unknown });
    }
  });

  it('times segments from startAt/endAt, else from track-added plus track time (older manifests), and picks those overlapping [from, to)', () => {
    const at = (ms: number): Date => new Date(Date.UTC(2024, 4, 1, 10) + ms);
    const seg = (index: number, firstMs: number, lastMs: number, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
      path: `alice/video-00000${index}.webm`, participant: 'alice', kind: 'video', index, sha256: 'x', bytes: 1, frames: 1, firstMs, lastMs, ...extra,
    });
    const entries: ChainEntry[] = [];
    const add = (type: string, data: Record<string, unknown>, ms: number): void => {
      entries.push(nextEntry(entries.at(-1), type, data, at(ms)));
    };
    add('session-started', {}, 0);
    add('track-added', { participant: 'alice', kind: 'video', codec: 'vp8' }, 1000);
    add('segment-sealed', seg(1, 0, 2900), 4000);
    add('segment-sealed', seg(2, 3000, 5900, { startAt: at(4100).toISOString(), endAt: at(7000).toISOString() }), 7000);
    const timed = segmentWallTimes(entries);
    expect(timed.map((t) => [t.startMs - at(0).getTime(), t.endMs - at(0).getTime(), t.clock])).toEqual([[1000, 3900, 'estimated'], [4100, 7000, 'recorded']]);
    const picked = (from: number, to: number): string[] => coveringSegments(timed, at(from).getTime(), at(to).getTime()).map((t) => t.segment.path);
    expect(picked(0, 1000)).toEqual([]);
    expect(picked(0, 1001)).toEqual(['alice/video-000001.webm']);
    expect(picked(3900, 4100)).toEqual(['alice/video-000001.webm']);
    expect(picked(3901, 4101)).toEqual(['alice/video-000002.webm']);
    expect(picked(0, 60_000)).toEqual(['alice/video-000001.webm', 'alice/video-000002.webm']);
    expect(picked(7001, 60_000)).toEqual([]);
  });
});

describe.skipIf(!hasTestData)(`evidence export of a time range${hasTestData ? '' : ` — skipped: ${noDataReason}`}`, () => {
  const keys = generateKeyPairSync('ed25519');
  let work: string;
  let data: string;
  let root: string;
  let frames: SourceFrame[];
  let ivf: string;
  let packets: Buffer[];
  let manifest: Manifest;
  let t0: number;
  let from: string;
  let to: string;
  let exported: ExportResult;
  let bundle: string;
  /** Index of each video track's first recorded source frame. */
  const firstFrame = { alice: 0, bob: 0 };

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'livemask-export-'));
    data = join(work, 'data');
    root = join(data, 'evidence');
    ivf = await sourceIvf(12);
    frames = readIvf(ivf);
    const ogg = join(work, 'tone.ogg');
    // The face clips have no sound; a generated tone stands in for a voice.
    await exec('ffmpeg', ['-v', 'error', '-nostdin', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000:duration=12', '-ac', '2',
      '-c:a', 'libopus', '-frame_duration', '20', '-f', 'ogg', ogg]);
    packets = oggPackets(await readFile(ogg)).slice(2); // OpusHead, OpusTags

    const recorder = new EvidenceRecorder({ root, room: ROOM, sessionId: SESSION, signingKey: keys.privateKey, segmentSeconds: 3 });
    await recorder.start();
    recorder.event('participant-joined', { participant: 'alice', role: 'applicant' });
    const aliceVideo = recorder.addVideoTrack('alice');
    const aliceAudio = recorder.addAudioTrack('alice');
    const bobVideo = recorder.addVideoTrack('bob');
    // Bob's video starts 2 s in: his first frames wait for the next keyframe.
    firstFrame.bob = frames.findIndex((f) => f.ms >= 2000 && f.keyframe);
    t0 = Date.now() + 50;
    await playInRealTime(t0, [
      ...frames.map((f) => ({ ms: f.ms, push: (arrivalMs: number) => aliceVideo.pushFrame({ data: f.data, timestamp90k: Math.round(f.ms * 90), keyframe: f.keyframe, arrivalMs }) })),
      ...frames.filter((f) => f.ms >= 2000).map((f) => ({
        ms: f.ms, push: (arrivalMs: number) => bobVideo.pushFrame({ data: f.data, timestamp90k: 7_000 + Math.round(f.ms * 90), keyframe: f.keyframe, arrivalMs }),
      })),
      ...packets.map((payload, i) => ({ ms: i * 20, push: (arrivalMs: number) => aliceAudio.pushPacket({ payload, timestamp48k: 555 + i * 960, arrivalMs }) })),
      { ms: 6000, push: () => recorder.event('mask-on', { participant: 'alice' }) },
      { ms: 10_000, push: () => recorder.event('mask-off', { participant: 'alice' }) },
    ]);
    const closed = await recorder.close();
    if (!closed.ok) {
      throw closed.error;
    }
    manifest = closed.manifest;
    from = new Date(t0 + 4500).toISOString();
    to = new Date(t0 + 8000).toISOString();
    bundle = join(work, 'bundle');
    exported = await exportEvidence({ root, room: ROOM, from, to, out: bundle, actor: 'ops-1', reason: 'dispute 42', publicKey: keys.publicKey });
  }, 90_000);

  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  const wall = (s: SegmentRecord): { start: number; end: number } => ({ start: Date.parse(s.startAt ?? ''), end: Date.parse(s.endAt ?? '') });
  const track = (participant: string, kind: 'video' | 'audio'): SegmentRecord[] =>
    manifest.segments.filter((s) => s.participant === participant && s.kind === kind).sort((a, b) => a.index - b.index);
  const included = (): Set<string> => new Set(exported.report.bundle.segments.map((s) => s.path));

  it('records wall-clock times per segment, in order', () => {
    expect(track('alice', 'video').length).toBeGreaterThanOrEqual(4);
    expect(track('alice', 'audio').length).toBeGreaterThanOrEqual(4);
    expect(track('bob', 'video').length).toBeGreaterThanOrEqual(3);
    for (const s of manifest.segments) {
      const { start, end } = wall(s);
      expect(start).toBeGreaterThanOrEqual(t0 + s.firstMs - 1);
      expect(end).toBeGreaterThanOrEqual(start);
    }
  });

  it('holds exactly the segments covering the range, byte-identical at their session paths', async () => {
    const fromMs = Date.parse(from);
    const toMs = Date.parse(to);
    const inBundle = included();
    for (const s of manifest.segments) {
      const { start, end } = wall(s);
      expect(inBundle.has(s.path), s.path).toBe(start < toMs && end >= fromMs);
    }
    // A middle range: each track's covering run starts at or before `from` and runs to `to`; alice's first and last are left out.
    for (const [p, kind] of [['alice', 'video'], ['alice', 'audio'], ['bob', 'video']] as const) {
      const covering = track(p, kind).filter((s) => inBundle.has(s.path));
      expect(covering.length).toBeGreaterThanOrEqual(1);
      expect(wall(covering[0] as SegmentRecord).start).toBeLessThanOrEqual(fromMs);
      expect(wall(covering.at(-1) as SegmentRecord).end).toBeGreaterThanOrEqual(toMs - 100);
    }
    expect(inBundle.has(track('alice', 'video')[0]?.path ?? '')).toBe(false);
    expect(inBundle.has(track('alice', 'video').at(-1)?.path ?? '')).toBe(false);
    const sessionDir = join(bundle, ROOM, SESSION);
    const files = await filesUnder(sessionDir);
    expect(files).toEqual(['checkpoints.jsonl', 'events.jsonl', 'manifest.json', 'manifest.sig', ...[...inBundle].sort()].sort());
    for (const name of files) {
      const original = await readFile(join(root, ROOM, SESSION, name));
      expect((await readFile(join(sessionDir, name))).equals(original), name).toBe(true);
    }
    const index = JSON.parse(await readFile(join(bundle, 'bundle.json'), 'utf8')) as BundleIndex;
    expect(index.sessions).toEqual([{ sessionId: SESSION, segments: expect.arrayContaining([...inBundle]) as unknown }]);
    expect(index.sessions[0]?.segments).toHaveLength(inBundle.size);
    expect(await filesUnder(bundle)).toEqual([...files.map((f) => `${ROOM}/${SESSION}/${f}`), 'bundle.json', 'clip.webm', 'report.json', 'report.txt', 'timeline.json'].sort());
  });

  it('has one clip with every track, whose frames are the received frames', async () => {
    const clip = join(bundle, 'clip.webm');
    const { stdout } = await exec('ffprobe', ['-v', 'error', '-show_entries', 'stream=index,codec_type,codec_name,start_time', '-of', 'json', clip]);
    const streams = (JSON.parse(stdout) as { streams: { codec_type: string; codec_name: string; start_time: string }[] }).streams;
    expect(streams.map((s) => `${s.codec_type}/${s.codec_name}`)).toEqual(['video/vp8', 'video/vp8', 'audio/opus']);
    const tracks = exported.report.clip.tracks;
    expect(tracks.map((t) => `${t.participant}/${t.kind}`)).toEqual(['alice/video', 'bob/video', 'alice/audio']);

    const source = (await frameMd5(ivf, '0:v:0'));
    expect(source).toHaveLength(frames.length);
    const inBundle = included();
    for (const [stream, p] of [[0, 'alice'], [1, 'bob']] as const) {
      const segs = track(p, 'video');
      const before = segs.filter((s) => !inBundle.has(s.path) && wall(s).start < Date.parse(from)).reduce((n, s) => n + s.frames, 0);
      const count = segs.filter((s) => inBundle.has(s.path)).reduce((n, s) => n + s.frames, 0);
      const expected = source.slice(firstFrame[p] + before, firstFrame[p] + before + count);
      expect(expected.length).toBe(count);
      const decoded = await frameMd5(clip, `0:${stream}`);
      expect(decoded).toEqual(expected);
    }
    const audioSegs = track('alice', 'audio');
    const audioBefore = audioSegs.filter((s) => !inBundle.has(s.path) && wall(s).start < Date.parse(from)).reduce((n, s) => n + s.frames, 0);
    const audioCount = audioSegs.filter((s) => inBundle.has(s.path)).reduce((n, s) => n + s.frames, 0);
    expect(await frameMd5(clip, '0:2', true)).toEqual(packets.slice(audioBefore, audioBefore + audioCount).map(md5));
    // The streams keep their wall-clock distance.
    const firstIn = (p: string, kind: 'video' | 'audio'): number => wall(track(p, kind).find((s) => inBundle.has(s.path)) as SegmentRecord).start;
    const startTimes = streams.map((s) => Number(s.start_time));
    expect(Math.abs((startTimes[1] ?? 0) - (startTimes[0] ?? 0) - (firstIn('bob', 'video') - firstIn('alice', 'video')) / 1000)).toBeLessThan(0.05);
    expect(tracks.map((t) => t.packetsIdentical)).toEqual([true, true, true]);
    const decode = await exec('ffmpeg', ['-v', 'warning', '-nostdin', '-i', clip, '-map', '0', '-f', 'null', '-']);
    expect(decode.stderr).toBe('');
  });

  it('has the timeline of the range and a report of what was verified', async () => {
    const timeline = JSON.parse(await readFile(join(bundle, 'timeline.json'), 'utf8')) as BundleTimeline;
    const log = (await readFile(join(root, ROOM, SESSION, 'events.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as ChainEntry);
    const expected = log.filter((e) => Date.parse(e.at) >= Date.parse(from) && Date.parse(e.at) < Date.parse(to));
    expect(timeline.events.map((e) => e.hash)).toEqual(expected.map((e) => e.hash));
    expect(timeline.events.map((e) => e.type)).toContain('mask-on');
    expect(timeline.events.map((e) => e.type)).not.toContain('mask-off');
    expect(timeline.events.map((e) => e.type)).not.toContain('participant-joined');

    const report = JSON.parse(await readFile(join(bundle, 'report.json'), 'utf8')) as ExportReport;
    expect(sha256(await readFile(join(bundle, 'report.json')))).toBe(exported.reportSha256);
    expect(report).toMatchObject({ room: ROOM, from, to, actor: 'ops-1', reason: 'dispute 42', source: { intact: true }, bundle: { intact: true } });
    expect(report.source.sessions).toEqual([expect.objectContaining({ sessionId: SESSION, chainHead: manifest.chain.head, counts: expect.objectContaining({ segments: manifest.segments.length }) as unknown })]);
    expect(report.bundle.counts).toMatchObject({ sessions: 1, segments: included().size });
    const text = await readFile(join(bundle, 'report.txt'), 'utf8');
    expect(text).toContain(`session ${SESSION}: intact`);
    expect(text).toContain('Verified after export (this bundle): intact');
    expect(text).toContain("identical to the segments' frames");
  });

  describe('verify --bundle, elsewhere, with only the public key', () => {
    let n = 0;
    async function copyOfBundle(): Promise<string> {
      n += 1;
      const dir = await mkdtemp(join(tmpdir(), `livemask-bundle-${n}-`));
      await cp(bundle, join(dir, 'b'), { recursive: true });
      return join(dir, 'b');
    }
    const publicOnly = (): Record<string, string> => ({ LIVEMASK_EVIDENCE_PUBLIC_KEY: pem(keys.publicKey, 'spki') });
    const seg = (copy: string, path: string): string => join(copy, ROOM, SESSION, path);
    const middle = (): string => [...included()].find((p) => p.startsWith('alice/video')) ?? '';

    it('passes intact, with the counts', async () => {
      const copy = await copyOfBundle();
      const empty = await mkdtemp(join(tmpdir(), 'livemask-nodata-'));
      const result = await runCli(['evidence', 'verify', '--bundle', copy, '--data', empty], publicOnly());
      expect(result.code).toBe(0);
      expect(result.out).toMatch(new RegExp(`^intact: bundle .*: 1 session, ${included().size} segments, \\d+ bytes, ${manifest.chain.count} events, \\d+ checkpoints\\n$`));
      await rm(dirname(copy), { recursive: true, force: true });
      await rm(empty, { recursive: true, force: true });
    });

    it('names a flipped byte in a bundle segment', async () => {
      const copy = await copyOfBundle();
      const file = seg(copy, middle());
      const bytes = await readFile(file);
      bytes[bytes.length >> 1] = (bytes[bytes.length >> 1] ?? 0) ^ 0x01;
      await writeFile(file, bytes);
      const result = await runCli(['evidence', 'verify', '--bundle', copy], publicOnly());
      expect(result).toMatchObject({ code: 1, out: `NOT intact: segment-altered at ${ROOM}/${SESSION}/${middle()}: SHA-256 differs from the sealed hash\n` });
    });

    it('names a removed bundle segment, also when bundle.json is edited to match', async () => {
      const copy = await copyOfBundle();
      await unlink(seg(copy, middle()));
      expect(await problemOf(copy)).toMatchObject({ kind: 'segment-missing', where: `${ROOM}/${SESSION}/${middle()}` });
      const index = JSON.parse(await readFile(join(copy, 'bundle.json'), 'utf8')) as BundleIndex;
      index.sessions[0]?.segments.splice(index.sessions[0].segments.indexOf(middle()), 1);
      await writeFile(join(copy, 'bundle.json'), JSON.stringify(index));
      expect(await problemOf(copy)).toMatchObject({ kind: 'segment-missing', where: `${ROOM}/${SESSION}/${middle()}`, message: expect.stringContaining('covers the exported range') as unknown });
    });

    it('names an edited event in the bundle\'s events.jsonl', async () => {
      const copy = await copyOfBundle();
      const path = seg(copy, 'events.jsonl');
      const lines = (await readFile(path, 'utf8')).split('\n');
      const at = lines.findIndex((l) => l.includes('"role":"applicant"'));
      lines[at] = (lines[at] ?? '').replace('"role":"applicant"', '"role":"recruiter"');
      await writeFile(path, lines.join('\n'));
      expect(await problemOf(copy)).toMatchObject({ kind: 'event-edited', where: `${ROOM}/${SESSION}/events.jsonl:${at + 1}` });
    });

    it('names a segment file the bundle should not hold, an edited timeline, a changed clip and another key', async () => {
      const outside = track('alice', 'video')[0]?.path ?? '';
      let copy = await copyOfBundle();
      await cp(join(root, ROOM, SESSION, outside), seg(copy, outside));
      expect(await problemOf(copy)).toMatchObject({ kind: 'segment-added', where: `${ROOM}/${SESSION}/${outside}` });

      copy = await copyOfBundle();
      const timeline = JSON.parse(await readFile(join(copy, 'timeline.json'), 'utf8')) as BundleTimeline;
      timeline.events = timeline.events.filter((e) => e.type !== 'mask-on');
      await writeFile(join(copy, 'timeline.json'), JSON.stringify(timeline));
      expect(await problemOf(copy)).toMatchObject({ kind: 'event-edited', where: 'timeline.json' });

      copy = await copyOfBundle();
      await writeFile(join(copy, 'clip.webm'), Buffer.concat([await readFile(join(copy, 'clip.webm')), Buffer.from([0])]));
      expect(await problemOf(copy)).toMatchObject({ kind: 'clip-altered', where: 'clip.webm' });

      copy = await copyOfBundle();
      const other = generateKeyPairSync('ed25519');
      const result = await verifyBundle(copy, other.publicKey);
      expect(result.ok ? result : result.problem).toMatchObject({ kind: 'signature-bad', where: `${ROOM}/${SESSION}/manifest.sig` });
    });

    async function problemOf(copy: string): Promise<unknown> {
      const result = await verifyBundle(copy, keys.publicKey);
      return result.ok ? result : result.problem;
    }
  });

  describe('livemask evidence export', () => {
    const signing = (): Record<string, string> => ({ LIVEMASK_EVIDENCE_KEY: pem(keys.privateKey, 'pkcs8') });
    const args = (out: string, over: Record<string, string | undefined> = {}): string[] => {
      const flags: Record<string, string | undefined> = { '--from': from, '--to': to, '-o': out, '--actor': 'ops-2', '--reason': 'appeal 7', ...over };
      return ['evidence', 'export', ROOM, '--data', data, ...Object.entries(flags).flatMap(([k, v]) => (v === undefined ? [] : [k, v]))];
    };

    it('exports, verifies, and appends a signed audit entry', async () => {
      const out = join(work, 'cli-bundle');
      const result = await runCli(args(out), signing());
      expect(result.err).toBe('');
      expect(result.code).toBe(0);
      expect(result.out).toMatch(new RegExp(`^exported room ${ROOM} ${from} \\.\\. ${to} -> ${out}: 1 session, ${included().size} segments`));
      expect(await verifyBundle(out, keys.publicKey)).toMatchObject({ ok: true });
      const audit = await readAudit(root, ROOM);
      expect(audit.at(-1)).toMatchObject({
        type: 'export',
        data: { actor: 'ops-2', reason: 'appeal 7', session: SESSION, from, to, segments: included().size, reportSha256: sha256(await readFile(join(out, 'report.json'))) },
      });
      expect(await verifyAudit(root, ROOM, keys.publicKey)).toMatchObject({ ok: true, signed: audit.length });
    });

    it('refuses bad requests with exit 2, leaving nothing behind', async () => {
      const out = join(work, 'refused');
      const cases: [string, Record<string, string | undefined>, RegExp][] = [
        ['from after to', { '--from': to, '--to': from }, /--from .* must be before --to/],
        ['from equal to', { '--to': from }, /must be before/],
        ['not an ISO time', { '--from': 'yesterday' }, /--from must be an ISO 8601 time/],
        ['no such day', { '--to': '2024-02-30T10:00:00Z' }, /--to must be an ISO 8601 time/],
        ['no time zone', { '--from': from.replace('Z', '') }, /--from must be an ISO 8601 time/],
        ['no actor', { '--actor': undefined }, /needs --actor/],
        ['no reason', { '--reason': undefined }, /needs --reason/],
        ['blank reason', { '--reason': ' ' }, /needs --reason/],
      ];
      for (const [what, over, message] of cases) {
        const result = await runCli(args(out, over), signing());
        expect(result.code, what).toBe(2);
        expect(result.err, what).toMatch(message);
        await expect(readdir(out), what).rejects.toMatchObject({ code: 'ENOENT' });
      }
      await mkdir(out);
      await writeFile(join(out, 'keep.txt'), 'mine');
      const nonEmpty = await runCli(args(out), signing());
      expect(nonEmpty.code).toBe(2);
      expect(nonEmpty.err).toMatch(/exists and is not empty/);
      expect(await readdir(out)).toEqual(['keep.txt']);
    });

    it('refuses a range with no recording (exit 3) and evidence that does not verify (exit 1)', async () => {
      const auditBefore = (await readAudit(root, ROOM)).length;
      const out = join(work, 'refused-2');
      const past = await runCli(args(out, { '--from': '2020-01-01T00:00:00Z', '--to': '2020-01-01T01:00:00Z' }), signing());
      expect(past.code).toBe(3);
      expect(past.err).toMatch(/no recording of room room-x in 2020-01-01T00:00:00.000Z \.\. 2020-01-01T01:00:00.000Z/);
      const gap = await runCli(args(out, { '--from': new Date(t0 + 60_000).toISOString(), '--to': new Date(t0 + 120_000).toISOString() }), signing());
      expect(gap.code).toBe(3);

      const tampered = join(work, 'tampered-data');
      await cp(data, tampered, { recursive: true });
      const file = join(tampered, 'evidence', ROOM, SESSION, middle());
      const bytes = await readFile(file);
      bytes[100] = (bytes[100] ?? 0) ^ 0x01;
      await writeFile(file, bytes);
      const bad = await runCli([...args(out), '--data', tampered], signing());
      expect(bad.code).toBe(1);
      expect(bad.err).toMatch(new RegExp(`refusing to export: the evidence does not verify: segment-altered at ${ROOM}/${SESSION}/${middle()}`));
      await expect(readdir(out)).rejects.toMatchObject({ code: 'ENOENT' });
      expect((await readdir(work)).filter((f) => f.includes('.partial-'))).toEqual([]);
      expect(await readAudit(root, ROOM)).toHaveLength(auditBefore);

      function middle(): string {
        return [...included()].find((p) => p.startsWith('alice/video')) ?? '';
      }
    });
  });
});
