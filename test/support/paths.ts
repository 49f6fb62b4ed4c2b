import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The shared face data (videos, truth, images), from LIVEMASK_TEST_DATA. */
export const testData = resolve(repoRoot, process.env.LIVEMASK_TEST_DATA ?? '../shared/data');
export const hasTestData = existsSync(join(testData, 'videos'));
export const noDataReason = `needs the shared face data at ${testData} (set LIVEMASK_TEST_DATA)`;

export function clipPath(name: string): string {
  return join(testData, 'videos', `${name}.mp4`);
}

export function truthPath(name: string): string {
  return join(testData, 'truth', `${name}.json`);
}
