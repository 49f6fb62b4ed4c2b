import type { Page } from 'playwright-core';
import { expect } from 'vitest';
import type { I420Frame } from '../../src/core/index.js';
import { YUNET_MODEL, type Yunet, type YunetFace } from '../support/yunet.js';

/**
 * Probes of the demo page (src/server/demo/index.html), run inside Chromium.
 * The project compiles without the DOM library, so the in-page functions are
 * JavaScript text; each takes a pane name: 'applicant', 'streamer' or
 * 'audience'.
 */

export type Pane = 'applicant' | 'streamer' | 'audience';

export interface VideoState {
  /** The <video> element's intrinsic size: 0 until a frame was decoded. */
  width: number;
  height: number;
  currentTime: number;
  /** getVideoPlaybackQuality().totalVideoFrames */
  frames: number;
}

export interface RtcState {
  /** The pane's RTCPeerConnection state, or 'none' before it exists. */
  connection: string;
  /** inbound-rtp video framesDecoded (0 when there is no such stat yet). */
  videoFramesDecoded: number;
  audioPacketsReceived: number;
  /** outbound-rtp video framesEncoded (the applicant pane). */
  videoFramesEncoded: number;
  /** The codec of the video sent or received now, e.g. 'video/H264' ('' before there is one). */
  videoCodec: string;
}

const VIDEO_STATE = `(pane) => {
  const v = document.querySelector('#' + pane + ' video');
  return { width: v.videoWidth, height: v.videoHeight, currentTime: v.currentTime,
           frames: v.getVideoPlaybackQuality().totalVideoFrames };
}`;

const RTC_STATE = `async (pane) => {
  const pc = window.livemask.pcs[pane];
  const state = { connection: pc ? pc.connectionState : 'none', videoFramesDecoded: 0, audioPacketsReceived: 0, videoFramesEncoded: 0, videoCodec: '' };
  if (!pc) { return state; }
  const stats = await pc.getStats();
  const codec = (s) => (s.codecId && stats.get(s.codecId) ? stats.get(s.codecId).mimeType : '');
  for (const s of stats.values()) {
    if (s.type === 'inbound-rtp' && s.kind === 'video') { state.videoFramesDecoded = s.framesDecoded ?? 0; state.videoCodec = codec(s); }
    if (s.type === 'inbound-rtp' && s.kind === 'audio') { state.audioPacketsReceived = s.packetsReceived ?? 0; }
    if (s.type === 'outbound-rtp' && s.kind === 'video') { state.videoFramesEncoded = s.framesEncoded ?? 0; state.videoCodec = codec(s); }
  }
  return state;
}`;

/** The variance of the luma of the pane's current frame, drawn to a 160x90 canvas (0 for a blank frame). */
const LUMA_VARIANCE = `(pane) => {
  const v = document.querySelector('#' + pane + ' video');
  const c = document.createElement('canvas');
  c.width = 160;
  c.height = 90;
  const g = c.getContext('2d', { willReadFrequently: true });
  g.drawImage(v, 0, 0, c.width, c.height);
  const px = g.getImageData(0, 0, c.width, c.height).data;
  let sum = 0, sum2 = 0;
  const n = px.length / 4;
  for (let i = 0; i < px.length; i += 4) {
    const y = 0.299 * px[i] + 0.587 * px[i + 1] + 0.114 * px[i + 2];
    sum += y;
    sum2 += y * y;
  }
  const mean = sum / n;
  return sum2 / n - mean * mean;
}`;

function call<T>(page: Page, fn: string, ...args: unknown[]): Promise<T> {
  return page.evaluate<T>(`(${fn})(${args.map((a) => JSON.stringify(a)).join(', ')})`);
}

export function videoState(page: Page, pane: Pane): Promise<VideoState> {
  return call(page, VIDEO_STATE, pane);
}

export function rtcState(page: Page, pane: Pane): Promise<RtcState> {
  return call(page, RTC_STATE, pane);
}

export function lumaVariance(page: Page, pane: Pane): Promise<number> {
  return call(page, LUMA_VARIANCE, pane);
}

/** The pane's status line, which the page refreshes every second. */
export async function statusText(page: Page, pane: Pane): Promise<string> {
  return (await page.locator(`#${pane} .status`).textContent()) ?? '';
}

/** The types of the room events the page has received, in order. */
export function pageEvents(page: Page): Promise<string[]> {
  return page.evaluate<string[]>('window.livemask.events.map((e) => e.type)');
}

/**
 * When the page's mask switches (its PUT …/mask requests) got their answers:
 * responseEnd from Resource Timing, in the page's performance.now() time, oldest first.
 */
export function maskSwitchTimes(page: Page): Promise<number[]> {
  return page.evaluate<number[]>(
    `performance.getEntriesByType('resource').filter((e) => /\\/participants\\/[^/]+\\/mask$/.test(new URL(e.name).pathname)).map((e) => e.responseEnd)`,
  );
}

/** Polls `probe` until `test` holds; the error names `what` and the last value seen. */
export async function until<T>(probe: () => Promise<T>, test: (value: T) => boolean, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (test(value)) {
      return value;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${JSON.stringify(value)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A frame with a face and background varies; a black or grey frame does not. */
export const MIN_LUMA_VARIANCE = 100;

/** The pane's current frame, at its own size, as base64 RGBA. */
const FRAME_RGBA = `(pane) => {
  const v = document.querySelector('#' + pane + ' video');
  const c = document.createElement('canvas');
  c.width = v.videoWidth;
  c.height = v.videoHeight;
  const g = c.getContext('2d', { willReadFrequently: true });
  g.drawImage(v, 0, 0);
  const px = g.getImageData(0, 0, c.width, c.height).data;
  let bytes = '';
  for (let i = 0; i < px.length; i += 0x8000) {
    bytes += String.fromCharCode.apply(null, px.subarray(i, i + 0x8000));
  }
  return { width: c.width, height: c.height, rgba: btoa(bytes) };
}`;

/** RGBA to I420, BT.601 limited range (the inverse of src/eval's i420ToRgb); chroma from the top-left pixel of each 2x2 block. */
export function rgbaToI420(rgba: Buffer, width: number, height: number): I420Frame {
  const cw = Math.ceil(width / 2);
  const ch = Math.ceil(height / 2);
  const data = Buffer.alloc(width * height + 2 * cw * ch);
  const vOff = width * height + cw * ch;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 4;
      const r = rgba[o] ?? 0;
      const g = rgba[o + 1] ?? 0;
      const b = rgba[o + 2] ?? 0;
      data[y * width + x] = Math.round(16 + 0.257 * r + 0.504 * g + 0.098 * b);
      if (x % 2 === 0 && y % 2 === 0) {
        const c = (y >> 1) * cw + (x >> 1);
        data[width * height + c] = Math.round(128 - 0.148 * r - 0.291 * g + 0.439 * b);
        data[vOff + c] = Math.round(128 + 0.439 * r - 0.368 * g - 0.071 * b);
      }
    }
  }
  return { width, height, data, index: 0, ptsMs: 0 };
}

/** The pane's current frame as I420. */
export async function grabFrame(page: Page, pane: Pane): Promise<I420Frame> {
  const frame = await call<{ width: number; height: number; rgba: string }>(page, FRAME_RGBA, pane);
  return rgbaToI420(Buffer.from(frame.rgba, 'base64'), frame.width, frame.height);
}

/** The faces YuNet (the independent auditor of the leak tests) finds in the pane's current frame. */
export async function facesIn(page: Page, pane: Pane, yunet: Yunet): Promise<YunetFace[]> {
  return yunet.detect(await grabFrame(page, pane));
}

/**
 * What the audience pane must show while the applicant is masked: the masked
 * rendition (frames decoded), in which YuNet finds no face in any of three
 * frames while it finds one in the streamer's original.
 */
export async function expectAudienceWhileMasked(page: Page, yunet: Yunet | undefined): Promise<void> {
  const rtc = await rtcState(page, 'audience');
  const video = await videoState(page, 'audience');
  expect(rtc.audioPacketsReceived).toBeGreaterThan(0);
  expect(rtc.videoFramesDecoded).toBeGreaterThan(0);
  expect(video.width).toBeGreaterThan(0);
  expect(yunet, `YuNet (${YUNET_MODEL}) is needed to audit the masked rendition`).toBeDefined();
  if (!yunet) {
    return;
  }
  expect((await facesIn(page, 'streamer', yunet)).length).toBeGreaterThan(0);
  for (let i = 0; i < 3; i++) {
    const seen = (await rtcState(page, 'audience')).videoFramesDecoded;
    expect(await facesIn(page, 'audience', yunet), 'faces in a frame of the audience pane while masked').toEqual([]);
    if (i < 2) {
      // Generous: under a loaded CI machine the masked rendition may run at a few frames a second.
      await until(() => rtcState(page, 'audience'), (s) => s.videoFramesDecoded > seen, 15_000, 'a new frame at the audience');
    }
  }
}
