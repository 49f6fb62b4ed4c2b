import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { cp, mkdtemp, readFile, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkpointMessage, nextEntry, verify, webmFrame, webmHeader, type ChainEntry, type Manifest } from '../../src/evidence/index.js';

/**
 * The tamper suite: each kind of change to a sealed recording is caught by
 * `verify` and named, with where it is. It runs against any sealed session:
 * one the recorder made from a clip's frames, and one made through real
 * WebRTC by `livemask serve`.
 */

export interface TamperTarget {
  /** The evidence root holding the session (copied before each change; never changed itself). */
  root: string;
  room: string;
  session: string;
  /** The key the recording was signed with (from configuration). */
  publicKey: KeyObject;
  /** A participant with at least two sealed video segments. */
  participant: string;
  /** A text in exactly the event log line to edit, and what to replace it with. */
  edit: { from: string; to: string };
  /** The type of an event a forger would want gone. */
  dropType: string;
}

export function tamperSuite(title: string, target: () => TamperTarget): void {
  describe(title, () => {
    let work: string | undefined;
    let n = 0;
    afterAll(async () => {
      if (work !== undefined) {
        await rm(work, { recursive: true, force: true });
      }
    });

    /** A fresh copy of the evidence root, changed by `tamper` in the session's directory, then verified. */
    async function tampered(tamper: (dir: string) => Promise<void>, key?: KeyObject): Promise<unknown> {
      const t = target();
      work ??= await mkdtemp(join(tmpdir(), 'livemask-tamper-'));
      n += 1;
      const copy = join(work, `tamper-${n}`);
      await cp(t.root, copy, { recursive: true });
      await tamper(join(copy, t.room, t.session));
      const result = await verify(copy, t.room, key ?? t.publicKey, t.session);
      return result.ok ? result : result.problem;
    }
    const seg = (dir: string, i: number): string => join(dir, target().participant, `video-${String(i).padStart(6, '0')}.webm`);
    const where = (file: string): string => `${target().room}/${target().session}/${file}`;
    const segName = (i: number): string => `${target().participant}/video-${String(i).padStart(6, '0')}.webm`;
    const videoSegments = async (): Promise<number> => {
      const t = target();
      const m = JSON.parse(await readFile(join(t.root, t.room, t.session, 'manifest.json'), 'utf8')) as Manifest;
      return m.segments.filter((s) => s.participant === t.participant && s.kind === 'video').length;
    };

    it('flip one byte in a segment', async () => {
      const problem = await tampered(async (dir) => {
        const bytes = await readFile(seg(dir, 2));
        const at = bytes.length >> 1;
        bytes[at] = (bytes[at] ?? 0) ^ 0x01;
        await writeFile(seg(dir, 2), bytes);
      });
      expect(problem).toMatchObject({ kind: 'segment-altered', where: where(segName(2)) });
    });

    it('delete a segment', async () => {
      const problem = await tampered((dir) => unlink(seg(dir, 2)));
      expect(problem).toMatchObject({ kind: 'segment-missing', where: where(segName(2)) });
    });

    it('swap two segments', async () => {
      const problem = await tampered(async (dir) => {
        await rename(seg(dir, 1), `${seg(dir, 1)}.x`);
        await rename(seg(dir, 2), seg(dir, 1));
        await rename(`${seg(dir, 1)}.x`, seg(dir, 2));
      });
      expect(problem).toMatchObject({ kind: 'segment-reordered', where: where(segName(1)) });
    });

    it('add a forged segment', async () => {
      const next = (await videoSegments()) + 1;
      const problem = await tampered(async (dir) => {
        // A frame taken from the recording itself, in a file of the recorder's own format.
        const original = await readFile(seg(dir, 1));
        const frame = original.subarray(original.length - 200);
        await writeFile(seg(dir, next), Buffer.concat([webmHeader({ kind: 'video', codec: 'vp8', width: 320, height: 180 }), webmFrame(frame, 0, true)]));
      });
      expect(problem).toMatchObject({ kind: 'segment-added', where: where(segName(next)) });
    });

    it('edit an event (and, rehashed, still caught by the signed heads)', async () => {
      const { from, to } = target().edit;
      const edit = (text: string): string => text.replace(from, to);
      let line = 0;
      const plain = await tampered(async (dir) => {
        const text = await readFile(join(dir, 'events.jsonl'), 'utf8');
        line = text.split('\n').findIndex((l) => l.includes(from)) + 1;
        expect(line).toBeGreaterThan(0);
        await writeFile(join(dir, 'events.jsonl'), edit(text));
      });
      expect(plain).toMatchObject({ kind: 'event-edited', where: where(`events.jsonl:${line}`) });
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
      expect(problem).toMatchObject({ kind: 'event-removed', where: where('events.jsonl:3') });
    });

    it('reorder two events', async () => {
      const problem = await tampered(async (dir) => {
        const lines = (await readFile(join(dir, 'events.jsonl'), 'utf8')).split('\n');
        [lines[1], lines[2]] = [lines[2] ?? '', lines[1] ?? ''];
        await writeFile(join(dir, 'events.jsonl'), lines.join('\n'));
      });
      expect(problem).toMatchObject({ kind: 'event-reordered', where: where('events.jsonl:2') });
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
      const { room, session, dropType } = target();
      const other = generateKeyPairSync('ed25519');
      const forge = async (dir: string): Promise<void> => {
        const entries = await rewriteLog(dir, (es) => {
          expect(es.some((e) => e.type === dropType)).toBe(true);
          return es.filter((e) => e.type !== dropType);
        });
        const last = entries.at(-1);
        const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as Manifest;
        manifest.chain = { count: entries.length, head: last?.hash ?? '' };
        const bytes = Buffer.from(JSON.stringify(manifest));
        await writeFile(join(dir, 'manifest.json'), bytes);
        await writeFile(join(dir, 'manifest.sig'), sign(null, bytes, other.privateKey).toString('base64'));
        const sig = sign(null, checkpointMessage(room, session, last?.seq ?? 0, last?.hash ?? ''), other.privateKey).toString('base64');
        await writeFile(join(dir, 'checkpoints.jsonl'), `${JSON.stringify({ seq: last?.seq, head: last?.hash, at: last?.at, sig })}\n`);
        await writeFile(join(dir, 'public-key.pem'), other.publicKey.export({ type: 'spki', format: 'pem' }).toString());
      };
      expect(await tampered(forge)).toMatchObject({ kind: 'signature-bad', where: where('manifest.sig') });
      // The forger's own key (stored with the forgery) accepts it: which is why the key comes from configuration.
      expect(await tampered(forge, other.publicKey)).toMatchObject({ ok: true });
    });

    it('a missing signature', async () => {
      const problem = await tampered((dir) => unlink(join(dir, 'manifest.sig')));
      expect(problem).toMatchObject({ kind: 'signature-missing', where: where('manifest.sig') });
    });
  });
}

/** Rewrites the log through `change`, re-chaining every entry (a forger who knows the format). */
export async function rewriteLog(dir: string, change: (entries: ChainEntry[]) => ChainEntry[]): Promise<ChainEntry[]> {
  const path = join(dir, 'events.jsonl');
  const entries = (await readFile(path, 'utf8')).trimEnd().split('\n').map((l) => JSON.parse(l) as ChainEntry);
  const out: ChainEntry[] = [];
  for (const e of change(entries)) {
    out.push(nextEntry(out.at(-1), e.type, e.data, new Date(e.at)));
  }
  await writeFile(path, out.map((e) => `${JSON.stringify(e)}\n`).join(''));
  return out;
}
