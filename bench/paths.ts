// Where the bench finds the repository, the shared clips and their truth files.
// Works from the sources (bench/*.ts under tsx or vitest) and from the build
// (dist/bench/*.js, what `livemask bench` runs).
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LivemaskError } from '../src/core/index.js';

/** The checkout: the nearest ancestor holding package.json and models/manifest.json. */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'models', 'manifest.json'))) {
      return dir;
    }
    const up = dirname(dir);
    if (up === dir) {
      throw new LivemaskError('BAD_USAGE', `cannot find the livemask checkout above ${fileURLToPath(import.meta.url)}`);
    }
    dir = up;
  }
}

/** The shared face data: LIVEMASK_TEST_DATA, default ../shared/data next to the checkout. */
export function dataDir(): string {
  return resolve(repoRoot(), process.env.LIVEMASK_TEST_DATA ?? '../shared/data');
}

export interface ClipFiles {
  name: string;
  video: string;
  /** YuNet truth boxes per frame (../shared/data/truth). */
  truth: string;
  /** Checked-by-eye truth corrections (test/fixtures/truth), when the clip has some. */
  corrections?: string;
}

/** Resolves clip names to their files; a clip without video or truth is a usage error naming the known ones. */
export function clipFiles(names: readonly string[]): ClipFiles[] {
  const data = dataDir();
  const videos = join(data, 'videos');
  if (!existsSync(videos)) {
    throw new LivemaskError('INPUT_UNREADABLE', `no clips at ${videos}: set LIVEMASK_TEST_DATA to the shared face data`);
  }
  const known = readdirSync(videos).filter((f) => f.endsWith('.mp4')).map((f) => f.slice(0, -4)).sort();
  return names.map((name) => {
    const video = join(videos, `${name}.mp4`);
    const truth = join(data, 'truth', `${name}.json`);
    if (!existsSync(video)) {
      throw new LivemaskError('BAD_USAGE', `--clips: no clip named ${name} in ${videos} (known: ${known.join(', ')})`);
    }
    if (!existsSync(truth)) {
      throw new LivemaskError('BAD_USAGE', `--clips: ${name} has no truth file at ${truth}; the leak comparison needs one`);
    }
    const corrections = join(repoRoot(), 'test', 'fixtures', 'truth', `${name}.json`);
    return { name, video, truth, ...(existsSync(corrections) ? { corrections } : {}) };
  });
}
