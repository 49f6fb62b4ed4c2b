import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasTestData, noDataReason, testData } from '../support/paths.js';
import { expandBox, installMediaPipeAuditor, mediapipeFacesInImage, MEDIAPIPE_MODEL, type ImageResult } from './mediapipe-auditor.js';

/**
 * The in-page MediaPipe auditor of the demo-page test, checked on its own so
 * that a broken auditor cannot pass the privacy assertions by finding nothing:
 * on real faces it finds the face, still finds it through light (8 px)
 * pixelation, and finds none once the face box is pixelated in 32 px blocks. The page is served by page.route from an origin
 * that does not exist; nothing leaves the machine.
 */

const CHROMIUM = process.env.LIVEMASK_CHROMIUM ?? '/usr/bin/chromium';
const ORIGIN = 'http://livemask-auditor.test';
const BLOCK = 32;
/** Light pixelation, which does not hide a face: the auditor must still see through it. */
const LIGHT_BLOCK = 8;

const skipReason = !existsSync(CHROMIUM)
  ? `needs Chromium at ${CHROMIUM} (scripts/setup.sh --test, or set LIVEMASK_CHROMIUM)`
  : !hasTestData
    ? noDataReason
    : undefined;

/** Real faces from the shared data, and the size the page draws them at (the talking-face frame at the clip's own 360x288). */
const IMAGES = [
  { name: 'skimage_astronaut.png', path: join('images', 'skimage_astronaut.png'), size: undefined, type: 'image/png' },
  { name: 'franck_02045.jpg', path: join('frames', 'clm_franck', 'franck_02045.jpg'), size: { width: 360, height: 288 }, type: 'image/jpeg' },
] as const;

describe.skipIf(skipReason !== undefined)(`MediaPipe auditor in Chromium${skipReason ? ` — skipped: ${skipReason}` : ''}`, () => {
  let browser: Browser | undefined;
  let page: Page;

  beforeAll(async () => {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--disable-background-networking', '--no-sandbox', '--headless=new'],
    });
    page = await browser.newPage();
    page.on('pageerror', (err) => console.error(`auditor page error: ${err.message}`));
    await page.route(`${ORIGIN}/`, (route) =>
      route.fulfill({ contentType: 'text/html', body: '<!doctype html><title>auditor</title>' }),
    );
    for (const image of IMAGES) {
      const body = await readFile(join(testData, image.path));
      await page.route(`${ORIGIN}/images/${image.name}`, (route) => route.fulfill({ contentType: image.type, body }));
    }
    await page.goto(`${ORIGIN}/`);
    await installMediaPipeAuditor(page);
  });

  afterAll(async () => {
    await browser?.close();
  });

  for (const image of IMAGES) {
    it(`finds the face in ${image.name}, and through ${LIGHT_BLOCK} px pixelation, but none through ${BLOCK} px blocks`, async () => {
      const url = `/images/${image.name}`;
      const original: ImageResult = await mediapipeFacesInImage(page, url, image.size);
      expect(original.faces, `${MEDIAPIPE_MODEL} on ${image.name}`).toHaveLength(1);
      const [face] = original.faces;
      if (!face) {
        return;
      }
      // A real face, not a speck: BlazeFace short range sees faces of about a tenth to two thirds of the picture.
      expect(face.w).toBeGreaterThan(original.width / 10);
      expect(face.w).toBeLessThan((original.width * 2) / 3);
      // The face box grown by a quarter on each side (hair, chin), as a mask covers a head.
      const box = expandBox(face, 0.25, original.width, original.height);
      const light = await mediapipeFacesInImage(page, url, image.size, { box, block: LIGHT_BLOCK });
      expect(light.faces, `faces through ${LIGHT_BLOCK} px pixelation`).toHaveLength(1);
      const masked = await mediapipeFacesInImage(page, url, image.size, { box, block: BLOCK });
      expect([masked.width, masked.height]).toEqual([original.width, original.height]);
      expect(masked.faces, `faces through ${BLOCK} px pixelation`).toEqual([]);
    });
  }
});
