import { execFile } from 'node:child_process';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { EvidenceRecorder, verify } from '../../src/evidence/index.js';
import { oggPackets } from './helpers.js';

const exec = promisify(execFile);

const md5 = (b: Buffer): string => createHash('md5').update(b).digest('hex');

describe('evidence recording of Opus audio', () => {
  let work = '';
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('writes playable WebM segments whose packets are the received packets', async () => {
    work = await mkdtemp(join(tmpdir(), 'livemask-audio-'));
    const ogg = join(work, 'a.ogg');
    // The face clips have no sound; a generated tone stands in for a voice.
    await exec('ffmpeg', ['-v', 'error', '-nostdin', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000:duration=9', '-ac', '2',
      '-c:a', 'libopus', '-frame_duration', '20', '-f', 'ogg', ogg]);
    const packets = oggPackets(await readFile(ogg)).slice(2); // OpusHead, OpusTags
    expect(packets.length).toBeGreaterThan(400);
    const keys = generateKeyPairSync('ed25519');
    const root = join(work, 'evidence');
    const recorder = new EvidenceRecorder({ root, room: 'r', sessionId: 's', signingKey: keys.privateKey, segmentSeconds: 4 });
    await recorder.start();
    const audio = recorder.addAudioTrack('alice', 'opus');
    for (const [i, payload] of packets.entries()) {
      audio.pushPacket({ payload, timestamp48k: (123_456 + i * 960) >>> 0 });
    }
    const closed = await recorder.close();
    expect(closed.ok).toBe(true);
    const segments = closed.ok ? closed.manifest.segments : [];
    expect(segments.map((s) => s.path)).toEqual(['alice/audio-000001.webm', 'alice/audio-000002.webm', 'alice/audio-000003.webm']);
    expect(await verify(root, 'r', keys.publicKey)).toMatchObject({ ok: true });
    const recorded: string[] = [];
    for (const s of segments) {
      const file = join(root, 'r', 's', s.path);
      const decode = await exec('ffmpeg', ['-v', 'error', '-nostdin', '-i', file, '-f', 'null', '-']);
      expect(decode.stderr).toBe('');
      const copy = await exec('ffmpeg', ['-v', 'error', '-nostdin', '-i', file, '-c', 'copy', '-f', 'framemd5', '-']);
      recorded.push(...copy.stdout.split('\n').filter((l) => l !== '' && !l.startsWith('#')).map((l) => l.split(',').at(-1)?.trim() ?? ''));
    }
    expect(recorded).toEqual(packets.map(md5));
  });
});
