import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../server/helpers.js';
import { clipPath, hasTestData, noDataReason, repoRoot } from '../support/paths.js';
import { createYunet, hasYunet, type Yunet } from '../support/yunet.js';
import { collectSamples, installMediaPipeAuditor, mediapipeFacesIn, startSampling, type FrameSample } from './mediapipe-auditor.js';
import {
  expectAudienceWhileMasked,
  facesIn,
  lumaVariance,
  maskSwitchTimes,
  MIN_LUMA_VARIANCE,
  pageEvents,
  rtcState,
  statusText,
  until,
  videoState,
} from './page-probes.js';

/**
 * The demo page (`livemask serve --demo`, GET /) in Debian's Chromium: its
 * fake camera plays a real face clip, the applicant pane publishes it with
 * WHIP as a masked applicant, and the streamer and audience panes subscribe
 * with WHEP. Two independent auditors look for the face: MediaPipe's face
 * detector inside the page, on frames of each pane's <video> as the browser
 * presents them (mediapipe-auditor.ts; its own test is
 * mediapipe-auditor.test.ts), and YuNet in Node, on frames grabbed from the
 * page. Screenshots go to .tmp/browser/ (ignored by git).
 */

const CHROMIUM = process.env.LIVEMASK_CHROMIUM ?? '/usr/bin/chromium';
const CLIP = 'clm_franck_talking_face';
/** The publisher's codec in each run: the page's default (VP8), then H.264 only (the page's ?codec=h264). */
const CODECS = [
  { codec: 'vp8', mime: 'video/VP8', query: '' },
  { codec: 'h264', mime: 'video/H264', query: '&codec=h264' },
] as const;
const SHOTS = join(repoRoot, '.tmp', 'browser');
/** Frames MediaPipe audits per check: spread over a few seconds of the stream, since it audits each new frame once it is free. */
const STREAMER_FRAMES = 10;
const MASKED_FRAMES = 24;
const AFTER_MASK_ON_FRAMES = 16;
/** The masked rendition may run at a frame a second or less on a loaded 2-core machine. */
const MASKED_SAMPLING_MS = 60_000;
/** Packets the server forwarded just before a mask switch may still be on the loopback (as in test/live). */
const LOOPBACK_MS = 100;
/** The issue's bound: after mask off, the audience sees the face within 1 s. */
const MASK_OFF_VISIBLE_MS = 1000;

const skipReason = !existsSync(CHROMIUM)
  ? `needs Chromium at ${CHROMIUM} (scripts/setup.sh --test, or set LIVEMASK_CHROMIUM)`
  : !hasTestData
    ? noDataReason
    : undefined;

const run = promisify(execFile);

/** A 4 s 640x360 30 fps Y4M of the clip, for Chromium's fake camera (which loops it). */
async function fakeCamera(dir: string): Promise<string> {
  const y4m = join(dir, 'camera.y4m');
  await run('ffmpeg', ['-v', 'error', '-y', '-t', '4', '-i', clipPath(CLIP), '-an', '-vf', 'scale=640:360,fps=30', '-pix_fmt', 'yuv420p', y4m], {
    timeout: 30_000,
  });
  return y4m;
}

/** Frames in which the auditor found a face, for the failure message. */
function withFaces(samples: readonly FrameSample[]): FrameSample[] {
  return samples.filter((s) => s.faces.length > 0);
}

async function screenshot(page: Page, name: string): Promise<void> {
  const path = join(SHOTS, name);
  await page.screenshot({ path, fullPage: true });
  expect((await stat(path)).size).toBeGreaterThan(1000);
}

describe.skipIf(skipReason !== undefined).each(CODECS)(`demo page in Chromium, $codec publisher${skipReason ? ` — skipped: ${skipReason}` : ''}`, ({ codec, mime, query }) => {
  const ROOM = `room-browser-${codec}`;
  let dir: string | undefined;
  let srv: TestServer | undefined;
  let browser: Browser | undefined;
  let yunet: Yunet | undefined;
  let page: Page;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'livemask-browser-'));
    await mkdir(SHOTS, { recursive: true });
    const y4m = await fakeCamera(dir);
    srv = await startServer({}, {}, { demo: true });
    yunet = hasYunet ? await createYunet() : undefined;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--disable-background-networking',
        '--no-sandbox',
        '--headless=new',
        '--use-fake-ui-for-media-stream',
        '--use-fake-device-for-media-stream',
        `--use-file-for-fake-video-capture=${y4m}`,
      ],
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    page.on('pageerror', (err) => console.error(`demo page error: ${err.message}`));
    await page.goto(`${srv.url}/?room=${ROOM}${query}`);
    await installMediaPipeAuditor(page);
  });

  afterAll(async () => {
    await browser?.close();
    await srv?.server.stop();
    await yunet?.close();
    if (dir) {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('publishes the fake camera from the applicant pane', async () => {
    expect(await page.title()).toBe('livemask demo');
    await until(() => rtcState(page, 'applicant'), (s) => s.connection === 'connected' && s.videoFramesEncoded > 0, 15_000, 'the applicant to publish');
    expect((await rtcState(page, 'applicant')).videoCodec).toBe(mime);
    expect(await pageEvents(page)).toContain('participant-joined');
  });

  it('plays the original video in the streamer pane: frames advance and are not blank', async () => {
    const first = await until(() => videoState(page, 'streamer'), (v) => v.width > 0 && v.currentTime > 0, 10_000, 'streamer video');
    expect([first.width, first.height]).toEqual([640, 360]);
    await until(() => videoState(page, 'streamer'), (v) => v.currentTime > first.currentTime + 0.5, 5000, 'streamer time to advance');
    expect((await rtcState(page, 'streamer')).videoFramesDecoded).toBeGreaterThan(10);
    expect((await rtcState(page, 'streamer')).videoCodec, 'the streamer gets the publisher\'s codec, untouched').toBe(mime);
    expect(await lumaVariance(page, 'streamer')).toBeGreaterThan(MIN_LUMA_VARIANCE);
    await startSampling(page, 'streamer');
    const frames = await collectSamples(page, 'streamer', STREAMER_FRAMES, 20_000);
    expect(new Set(frames.map((f) => f.presentedFrames)).size, 'distinct streamer frames audited').toBe(frames.length);
    expect(
      frames.filter((f) => f.faces.length !== 1),
      'streamer frames in which MediaPipe does not find exactly one face',
    ).toEqual([]);
  });

  it('shows the audience the masked rendition, never a face, while the applicant is masked', async () => {
    await until(
      () => rtcState(page, 'audience'),
      (s) => s.connection === 'connected' && s.audioPacketsReceived > 50 && s.videoFramesDecoded > 0,
      15_000,
      'audio and masked video at the audience',
    );
    await startSampling(page, 'audience');
    // Meanwhile the streamer keeps decoding, so video was there to leak.
    const streamer = (await rtcState(page, 'streamer')).videoFramesDecoded;
    await until(() => rtcState(page, 'streamer'), (s) => s.videoFramesDecoded > streamer + 30, 5000, '30 more frames at the streamer');
    await expectAudienceWhileMasked(page, yunet);
    expect((await rtcState(page, 'audience')).videoCodec, 'the masked rendition is VP8').toBe('video/VP8');
    const frames = await collectSamples(page, 'audience', MASKED_FRAMES, MASKED_SAMPLING_MS);
    expect(frames.every((f) => f.width > 0 && f.height > 0)).toBe(true);
    expect(new Set(frames.map((f) => f.presentedFrames)).size, 'distinct audience frames audited').toBe(frames.length);
    expect(withFaces(frames), 'audience frames in which MediaPipe finds a face while masked').toEqual([]);
    await until(() => statusText(page, 'streamer'), (t) => t.includes('frames decoded'), 3000, 'the streamer status line');
    await screenshot(page, `demo-${codec}-masked.png`);
  });

  it(`mask off through the page toggle: the audience sees the face within ${MASK_OFF_VISIBLE_MS} ms`, async () => {
    const before = (await rtcState(page, 'audience')).videoFramesDecoded;
    const switches = (await maskSwitchTimes(page)).length;
    await startSampling(page, 'audience');
    await page.locator('#mask').uncheck();
    await until(() => pageEvents(page), (types) => types.includes('mask-off'), 3000, 'the mask-off event');
    const times = await until(() => maskSwitchTimes(page), (t) => t.length > switches, 3000, 'the mask PUT in resource timing');
    const switchedAt = times[times.length - 1] ?? 0;
    // The first audited frame received after the switch in which MediaPipe finds the face (frames come while the auditor is free, so this errs late).
    const [shown] = await collectSamples(page, 'audience', 1, 10_000, (f) => f.receiveTime !== null && f.receiveTime > switchedAt && f.faces.length > 0);
    const visibleMs = (shown?.receiveTime ?? Number.POSITIVE_INFINITY) - switchedAt;
    console.log(`mask off: the audience got a frame with the face ${visibleMs.toFixed(0)} ms after the switch`);
    expect(visibleMs).toBeLessThanOrEqual(MASK_OFF_VISIBLE_MS);
    await until(() => rtcState(page, 'audience'), (s) => s.videoFramesDecoded > before + 10, 5000, 'video frames at the audience');
    await until(() => videoState(page, 'audience'), (v) => v.width > 0, 2000, 'audience video size');
    // The passthrough, in the publisher's codec: with H.264, the same stream switched payload type without renegotiation.
    await until(() => rtcState(page, 'audience'), (s) => s.videoCodec === mime, 3000, `the audience to decode ${mime}`);
    await until(() => lumaVariance(page, 'audience'), (v) => v > MIN_LUMA_VARIANCE, 3000, 'a frame that is not blank at the audience');
    await until(() => mediapipeFacesIn(page, 'audience'), (faces) => faces.length > 0, 5000, 'MediaPipe to find the face at the audience');
    if (yunet) {
      const auditor = yunet;
      await until(() => facesIn(page, 'audience', auditor), (faces) => faces.length > 0, 5000, 'the face at the audience');
    }
    expect(await page.locator('#mask').isChecked()).toBe(false);
    await until(() => statusText(page, 'audience'), (t) => t.includes('frames decoded'), 3000, 'the audience status line');
    await screenshot(page, `demo-${codec}-unmasked.png`);
  });

  it('mask on again through the page toggle: no audience frame received after the switch shows a face', async () => {
    const switches = (await maskSwitchTimes(page)).length;
    await startSampling(page, 'audience');
    await page.locator('#mask').check();
    await until(
      () => pageEvents(page),
      (types) => types.lastIndexOf('mask-on') > types.lastIndexOf('mask-off'),
      3000,
      'the mask-on event',
    );
    const times = await until(() => maskSwitchTimes(page), (t) => t.length > switches, 3000, 'the mask PUT in resource timing');
    const switchedAt = times[times.length - 1] ?? Number.POSITIVE_INFINITY;
    // Frames whose last packet arrived after the switch (and its loopback allowance); a frame without receiveTime is kept, and fails below.
    const after = await collectSamples(
      page,
      'audience',
      AFTER_MASK_ON_FRAMES,
      MASKED_SAMPLING_MS,
      (f) => f.receiveTime === null || f.receiveTime > switchedAt + LOOPBACK_MS,
    );
    const first = Math.min(...after.map((f) => (f.receiveTime ?? switchedAt) - switchedAt));
    console.log(`MediaPipe audited ${after.length} audience frames after mask on; the first arrived ${first.toFixed(0)} ms after the switch`);
    expect(after.filter((f) => f.receiveTime === null), 'audience frames without receiveTime').toEqual([]);
    expect(withFaces(after), 'audience frames received after mask on in which MediaPipe finds a face').toEqual([]);
    expect(await page.locator('#mask').isChecked()).toBe(true);
    await expectAudienceWhileMasked(page, yunet);
    await screenshot(page, `demo-${codec}-masked-again.png`);
  });
});
