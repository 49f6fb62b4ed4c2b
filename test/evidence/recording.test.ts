import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { cp, mkdtemp, rm, unlink } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EvidenceRecorder, readAudit, verify, type SegmentRecord } from '../../src/evidence/index.js';
import { hasTestData, noDataReason } from '../support/paths.js';
import { decodedFrameMd5, probeStream, readIvf, sourceIvf, type SourceFrame } from './helpers.js';
import { tamperSuite } from './tamper-suite.js';
import { runCli } from '../support/cli.js';

const ROOM = 'room-1';
const SESSION = 's-0001';
// Starts just under 2^32 so the RTP timestamps wrap mid-recording.
const TS0 = 2 ** 32 - 450_000;

function pem(key: KeyObject): string {
  return key.export({ type: 'spki', format: 'pem' }).toString();
}

describe.skipIf(!hasTestData)(`evidence recording of a real face clip${hasTestData ? '' : ` — skipped: ${noDataReason}`}`, () => {
  let work: string;
  let data: string;
  let root: string;
  let frames: SourceFrame[];
  let ivf: string;
  let segments: SegmentRecord[];
  const keys = generateKeyPairSync('ed25519');
  const keyframeRequests: string[] = [];

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'livemask-evidence-'));
    data = join(work, 'data');
    root = join(data, 'evidence');
    ivf = await sourceIvf(12);
    frames = readIvf(ivf);
    const recorder = new EvidenceRecorder({ root, room: ROOM, sessionId: SESSION, signingKey: keys.privateKey, segmentSeconds: 4 });
    recorder.on('keyframe-needed', (p) => keyframeRequests.push(p));
    await recorder.start();
    recorder.event('participant-joined', { participant: 'alice', role: 'applicant' });
    const video = recorder.addVideoTrack('alice', 'vp8');
    recorder.event('mask-on', { participant: 'alice' });
    const t0 = Date.now();
    for (const f of frames) {
      video.pushFrame({ data: f.data, timestamp90k: (TS0 + Math.round(f.ms * 90)) >>> 0, keyframe: f.keyframe, arrivalMs: t0 + f.ms });
    }
    recorder.event('participant-left', { participant: 'alice' });
    const closed = await recorder.close();
    if (!closed.ok) {
      throw closed.error;
    }
    segments = closed.manifest.segments;
  });

  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('seals segments that open on keyframes and roll after 4 s, asking for keyframes when due', () => {
    expect(frames.length).toBeGreaterThan(250);
    expect(segments.length).toBeGreaterThanOrEqual(2);
    expect(segments.map((s) => s.path)).toEqual(segments.map((_, i) => `alice/video-${String(i + 1).padStart(6, '0')}.webm`));
    for (const [i, s] of segments.entries()) {
      expect(s.sha256).toMatch(/^[0-9a-f]{64}$/);
      if (i > 0) {
        expect(s.firstMs - (segments[i - 1]?.firstMs ?? 0)).toBeGreaterThanOrEqual(4000);
      }
    }
    expect(segments.reduce((n, s) => n + s.frames, 0)).toBe(frames.length);
    expect(keyframeRequests).toContain('alice');
  });

  it('verifies intact, with counts', async () => {
    const result = await verify(root, ROOM, keys.publicKey);
    expect(result).toMatchObject({ ok: true, counts: { sessions: 1, segments: segments.length } });
    // One session, no takeover; it names the process that recorded it, and spans the recorded media.
    const spans = result.ok ? result.continuity?.sessions : undefined;
    expect(result.ok && result.continuity?.takeovers).toEqual([]);
    expect(spans).toHaveLength(1);
    expect(spans?.[0]?.workerId).toBe(`${hostname()}-${process.pid}`);
    expect(Date.parse(spans?.[0]?.lastMediaAt ?? '') - Date.parse(spans?.[0]?.firstMediaAt ?? '')).toBeGreaterThan(5000);
  });

  it('keeps the frames bit-exact: each segment decodes alone, and the decoded frames match the source', async () => {
    const source = await decodedFrameMd5(ivf);
    expect(source.hashes).toHaveLength(frames.length);
    const recorded: string[] = [];
    for (const s of segments) {
      const file = join(root, ROOM, SESSION, s.path);
      const probe = await probeStream(file);
      expect(probe).toEqual({ codec: 'vp8', stderr: '' });
      const decoded = await decodedFrameMd5(file);
      expect(decoded.stderr).toBe('');
      expect(decoded.hashes).toHaveLength(s.frames);
      recorded.push(...decoded.hashes);
    }
    expect(recorded).toEqual(source.hashes);
  });

  tamperSuite('tamper suite: each change is caught and named', () => ({
    root, room: ROOM, session: SESSION, publicKey: keys.publicKey, participant: 'alice',
    edit: { from: '"role":"applicant"', to: '"role":"recruiter"' }, dropType: 'mask-on',
  }));

  describe('livemask evidence (in process)', () => {

    it('lists sessions, and verify exits 0 with intact and the counts', async () => {
      const env = { LIVEMASK_EVIDENCE_PUBLIC_KEY: pem(keys.publicKey) };
      const list = await runCli(['evidence', 'list', '--data', data], env);
      expect(list).toMatchObject({ code: 0, out: expect.stringMatching(new RegExp(`^${ROOM}  ${SESSION}  sealed`)) as unknown });
      const ok = await runCli(['evidence', 'verify', ROOM, '--session', SESSION, '--data', data], env);
      expect(ok.code).toBe(0);
      expect(ok.out).toMatch(new RegExp(`^intact: room ${ROOM}: 1 session, ${segments.length} segments, \\d+ bytes, \\d+ events, \\d+ checkpoints\\n$`));
      // Each read is audited: the OS user (or --actor) and the reason (or "command line").
      await runCli(['evidence', 'verify', ROOM, '--data', data, '--actor', 'ops-kim', '--reason', 'dispute #9'], env);
      const audit = await readAudit(root, ROOM);
      expect(audit.map((e) => e.type)).toEqual(['list', 'verify', 'verify']);
      expect(audit[1]?.data).toMatchObject({ reason: 'command line', intact: true, via: 'cli', session: SESSION });
      expect(audit[2]?.data).toMatchObject({ actor: 'ops-kim', reason: 'dispute #9' });
    });

    it('verify exits 1 naming the first problem, and 3 for an unknown room', async () => {
      const copy = join(work, 'cli-data');
      await cp(data, copy, { recursive: true });
      await unlink(join(copy, 'evidence', ROOM, SESSION, 'alice', 'video-000001.webm'));
      const env = { LIVEMASK_EVIDENCE_PUBLIC_KEY: pem(keys.publicKey) };
      const bad = await runCli(['evidence', 'verify', ROOM, '--data', copy], env);
      expect(bad).toMatchObject({ code: 1, out: `NOT intact: segment-missing at ${ROOM}/${SESSION}/alice/video-000001.webm: sealed segment 1 of alice's video is missing\n` });
      const other = generateKeyPairSync('ed25519');
      const wrongKey = await runCli(['evidence', 'verify', ROOM, '--data', data], { LIVEMASK_EVIDENCE_PUBLIC_KEY: pem(other.publicKey) });
      expect(wrongKey.code).toBe(1);
      expect(wrongKey.out).toMatch(/^NOT intact: signature-bad/);
      expect((await runCli(['evidence', 'verify', 'no-such-room', '--data', data], env)).code).toBe(3);
    });
  });
});
