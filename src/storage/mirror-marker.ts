import { open, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fsyncDir } from '../evidence/index.js';

/**
 * `<root>/mirrored.jsonl`: one line per session copied whole to a store. A
 * line cut short by a crash is ignored, so that session is copied again
 * (puts of the same bytes succeed). The file lies beside the room
 * directories, where no session listing looks.
 */

export interface MarkerLine {
  room: string;
  sessionId: string;
  /** The store's id (no credentials). */
  store: string;
  files: number;
  bytes: number;
  at: string;
}

/** `room/session` of each session the marker text records for `storeId`. Pure. */
export function parseMarker(text: string, storeId: string): Set<string> {
  const done = new Set<string>();
  for (const line of text.split('\n')) {
    try {
      const v = JSON.parse(line) as Partial<MarkerLine> | null;
      if (v && v.store === storeId && typeof v.room === 'string' && typeof v.sessionId === 'string') {
        done.add(`${v.room}/${v.sessionId}`);
      }
    } catch {
      // A line cut short by a crash: that session is mirrored again.
    }
  }
  return done;
}

export async function readMarker(path: string, storeId: string): Promise<Set<string>> {
  try {
    return parseMarker(await readFile(path, 'utf8'), storeId);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      return new Set();
    }
    throw err;
  }
}

/** Appends one line and fsyncs it (and the directory, when the file is new). */
export async function appendMarker(path: string, line: MarkerLine): Promise<void> {
  const handle = await open(path, 'a');
  let created: boolean;
  try {
    created = (await handle.stat()).size === 0;
    await handle.write(`${JSON.stringify(line)}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  if (created) {
    await fsyncDir(dirname(path));
  }
}
