import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { cp, mkdtemp, readFile, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { run } from '../../src/cli/main.js';
import {
  checkpointMessage,
  EvidenceRecorder,
  nextEntry,
  verify,
  webmFrame,
  webmHeader,
  type ChainEntry,
  type Manifest,
  type SegmentRecord,
} from '../../src/evidence/index.js';
import { hasTestData, noDataReason } from '../support/paths.js';
import { decodedFrameMd5, probeStream, readIvf, sourceIvf, type SourceFrame } from './helpers.js';

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
    expect(result).toEqual({ ok: true, counts: expect.objectContaining({ sessions: 1, segments: segments.length }) as unknown });
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

  describe('tamper suite: each change is caught and named', () => {
    let n = 0;
    /** A fresh copy of the session's evidence root, changed by `tamper`, then verified. */
    async function tampered(tamper: (dir: string) => Promise<void>, key: KeyObject = keys.publicKey): Promise<unknown> {
      n += 1;
      const copy = join(work, `tamper-${n}`);
      await cp(root, copy, { recursive: true });
      await tamper(join(copy, ROOM, SESSION));
      const result = await verify(copy, ROOM, key);
      return result.ok ? result : result.problem;
    }
    const seg = (dir: string, i: number): string => join(dir, 'alice', `video-${String(i).padStart(6, '0')}.webm`);

    it('flip one byte in a segment', async () => {
      const problem = await tampered(async (dir) => {
        const bytes = await readFile(seg(dir, 2));
        const at = bytes.length >> 1;
        bytes[at] = (bytes[at] ?? 0) ^ 0x01;
        await writeFile(seg(dir, 2), bytes);
      });
      expect(problem).toMatchObject({ kind: 'segment-altered', where: `${ROOM}/${SESSION}/alice/video-000002.webm` });
    });

    it('delete a segment', async () => {
      const problem = await tampered((dir) => unlink(seg(dir, 2)));
      expect(problem).toMatchObject({ kind: 'segment-missing', where: `${ROOM}/${SESSION}/alice/video-000002.webm` });
    });

    it('swap two segments', async () => {
      const problem = await tampered(async (dir) => {
        await rename(seg(dir, 1), `${seg(dir, 1)}.x`);
        await rename(seg(dir, 2), seg(dir, 1));
        await rename(`${seg(dir, 1)}.x`, seg(dir, 2));
      });
      expect(problem).toMatchObject({ kind: 'segment-reordered', where: `${ROOM}/${SESSION}/alice/video-000001.webm` });
    });

    it('add a forged segment', async () => {
      const problem = await tampered(async (dir) => {
        const first = frames[0];
        const forged = Buffer.concat([webmHeader({ kind: 'video', codec: 'vp8', width: 320, height: 180 }), webmFrame(first?.data ?? Buffer.alloc(0), 0, true)]);
        await writeFile(seg(dir, segments.length + 1), forged);
      });
      expect(problem).toMatchObject({ kind: 'segment-added', where: `${ROOM}/${SESSION}/alice/video-${String(segments.length + 1).padStart(6, '0')}.webm` });
    });

    it('edit an event (and, rehashed, still caught by the signed heads)', async () => {
      const edit = (line: string): string => line.replace('"role":"applicant"', '"role":"recruiter"');
      const plain = await tampered(async (dir) => {
        const text = await readFile(join(dir, 'events.jsonl'), 'utf8');
        await writeFile(join(dir, 'events.jsonl'), edit(text));
      });
      expect(plain).toMatchObject({ kind: 'event-edited', where: `${ROOM}/${SESSION}/events.jsonl:2` });
      const rehashed = await tampered(async (dir) => {
        await rewriteLog(dir, (entries) => entries.map((e) => JSON.parse(edit(JSON.stringify(e))) as ChainEntry));
      });
      expect(rehashed).toMatchObject({ kind: 'event-edited' });
    });

    it('delete an event', async () => {
      const problem = await tampered(async (dir) => {
        const lines = (await readFile(join(dir, 'events.jsonl'), 'utf8')).split('\n');
        lines.splice(2, 1);
        await writeFile(join(dir, 'events.jsonl'), lines.join('\n'));
      });
      expect(problem).toMatchObject({ kind: 'event-removed', where: `${ROOM}/${SESSION}/events.jsonl:3` });
    });

    it('reorder two events', async () => {
      const problem = await tampered(async (dir) => {
        const lines = (await readFile(join(dir, 'events.jsonl'), 'utf8')).split('\n');
        [lines[1], lines[2]] = [lines[2] ?? '', lines[1] ?? ''];
        await writeFile(join(dir, 'events.jsonl'), lines.join('\n'));
      });
      expect(problem).toMatchObject({ kind: 'event-reordered', where: `${ROOM}/${SESSION}/events.jsonl:2` });
    });

    it('truncate the log, mid-line or at a line end', async () => {
      const cut = async (dir: string, keep: (text: string) => string): Promise<void> => {
        const text = await readFile(join(dir, 'events.jsonl'), 'utf8');
        await writeFile(join(dir, 'events.jsonl'), keep(text));
      };
      expect(await tampered((dir) => cut(dir, (t) => t.slice(0, -30)))).toMatchObject({ kind: 'log-truncated' });
      const atLine = await tampered((dir) => cut(dir, (t) => t.split('\n').slice(0, -3).join('\n') + '\n'));
      expect(atLine).toMatchObject({ kind: 'log-truncated' });
    });

    it('re-sign with another key', async () => {
      const other = generateKeyPairSync('ed25519');
      const forge = async (dir: string): Promise<void> => {
        const entries = await rewriteLog(dir, (es) => es.filter((e) => e.type !== 'mask-on'));
        const last = entries.at(-1);
        const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as Manifest;
        manifest.chain = { count: entries.length, head: last?.hash ?? '' };
        const bytes = Buffer.from(JSON.stringify(manifest));
        await writeFile(join(dir, 'manifest.json'), bytes);
        await writeFile(join(dir, 'manifest.sig'), sign(null, bytes, other.privateKey).toString('base64'));
        const sig = sign(null, checkpointMessage(ROOM, SESSION, last?.seq ?? 0, last?.hash ?? ''), other.privateKey).toString('base64');
        await writeFile(join(dir, 'checkpoints.jsonl'), `${JSON.stringify({ seq: last?.seq, head: last?.hash, at: last?.at, sig })}\n`);
        await writeFile(join(dir, 'public-key.pem'), pem(other.publicKey));
      };
      expect(await tampered(forge)).toMatchObject({ kind: 'signature-bad', where: `${ROOM}/${SESSION}/manifest.sig` });
      // The forger's own key (stored with the forgery) accepts it: which is why the key comes from configuration.
      expect(await tampered(forge, other.publicKey)).toMatchObject({ ok: true });
    });

    it('a missing signature', async () => {
      const problem = await tampered((dir) => unlink(join(dir, 'manifest.sig')));
      expect(problem).toMatchObject({ kind: 'signature-missing', where: `${ROOM}/${SESSION}/manifest.sig` });
    });
  });

  describe('livemask evidence (in process)', () => {
    async function cli(args: string[], env: Record<string, string>): Promise<{ code: number; out: string }> {
      const saved = { ...process.env };
      Object.assign(process.env, env, { LIVEMASK_LOG_LEVEL: 'silent' });
      let out = '';
      const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
        out += String(chunk);
        return true;
      });
      try {
        return { code: await run(args), out };
      } finally {
        spy.mockRestore();
        process.env = saved;
      }
    }

    it('lists sessions, and verify exits 0 with intact and the counts', async () => {
      const env = { LIVEMASK_EVIDENCE_PUBLIC_KEY: pem(keys.publicKey) };
      const list = await cli(['evidence', 'list', '--data', data], env);
      expect(list).toMatchObject({ code: 0, out: expect.stringMatching(new RegExp(`^${ROOM}  ${SESSION}  sealed`)) as unknown });
      const ok = await cli(['evidence', 'verify', ROOM, '--session', SESSION, '--data', data], env);
      expect(ok.code).toBe(0);
      expect(ok.out).toMatch(new RegExp(`^intact: room ${ROOM}: 1 session, ${segments.length} segments, \\d+ bytes, \\d+ events, \\d+ checkpoints\\n$`));
    });

    it('verify exits 1 naming the first problem, and 3 for an unknown room', async () => {
      const copy = join(work, 'cli-data');
      await cp(data, copy, { recursive: true });
      await unlink(join(copy, 'evidence', ROOM, SESSION, 'alice', 'video-000001.webm'));
      const env = { LIVEMASK_EVIDENCE_PUBLIC_KEY: pem(keys.publicKey) };
      const bad = await cli(['evidence', 'verify', ROOM, '--data', copy], env);
      expect(bad).toEqual({ code: 1, out: `NOT intact: segment-missing at ${ROOM}/${SESSION}/alice/video-000001.webm: sealed segment 1 of alice's video is missing\n` });
      const other = generateKeyPairSync('ed25519');
      const wrongKey = await cli(['evidence', 'verify', ROOM, '--data', data], { LIVEMASK_EVIDENCE_PUBLIC_KEY: pem(other.publicKey) });
      expect(wrongKey.code).toBe(1);
      expect(wrongKey.out).toMatch(/^NOT intact: signature-bad/);
      expect((await cli(['evidence', 'verify', 'no-such-room', '--data', data], env)).code).toBe(3);
    });
  });
});

/** Rewrites the log through `change`, re-chaining every entry (a forger who knows the format). */
async function rewriteLog(dir: string, change: (entries: ChainEntry[]) => ChainEntry[]): Promise<ChainEntry[]> {
  const path = join(dir, 'events.jsonl');
  const entries = (await readFile(path, 'utf8')).trimEnd().split('\n').map((l) => JSON.parse(l) as ChainEntry);
  const out: ChainEntry[] = [];
  for (const e of change(entries)) {
    const next = nextEntry(out.at(-1), e.type, e.data, new Date(e.at));
    out.push(next);
  }
  await writeFile(path, out.map((e) => `${JSON.stringify(e)}\n`).join(''));
  return out;
}
