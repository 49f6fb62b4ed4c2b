import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Page, Route } from 'playwright-core';
import { until, type Pane } from './page-probes.js';

/**
 * MediaPipe's face detector running inside a Chromium page, the independent
 * auditor of the browser tests (YuNet, in Node, is the second one).
 *
 * It is the legacy MediaPipe Face Detection solution, npm
 * `@mediapipe/face_detection@0.4.1657300184` (Apache-2.0), with its BlazeFace
 * short-range model. `@mediapipe/tasks-vision`'s FaceDetector cannot be used:
 * its model (`blaze_face_short_range.tflite`) is not on the npm registry, and
 * it refuses the legacy model, which has no TFLite metadata ("Input tensor has
 * type float32: it requires specifying NormalizationOptions metadata").
 *
 * Test-only: the page loads the solution from BASE_PATH on its own origin,
 * which `page.route` answers from node_modules (the model checked against its
 * pinned sha256 first); the server has no such route. The in-page code is
 * JavaScript text, since the project compiles without the DOM library.
 */

export const MEDIAPIPE_PACKAGE = '@mediapipe/face_detection';
export const MEDIAPIPE_VERSION = '0.4.1657300184';
export const MEDIAPIPE_MODEL = 'face_detection_short_range.tflite';
export const MEDIAPIPE_MODEL_SHA256 = '3bc182eb9f33925d9e58b5c8d59308a760f4adea8f282370e428c51212c26633';

/** Where the page finds the solution's files: answered by page.route, never by the server. */
const BASE_PATH = '/__livemask_test__/mediapipe/';

/** The files the solution loads (short-range model; SIMD and non-SIMD wasm builds), with their content types. */
const FILES: Readonly<Record<string, string>> = {
  'face_detection.js': 'text/javascript',
  'face_detection_short.binarypb': 'application/octet-stream',
  [MEDIAPIPE_MODEL]: 'application/octet-stream',
  'face_detection_solution_simd_wasm_bin.js': 'text/javascript',
  'face_detection_solution_simd_wasm_bin.wasm': 'application/wasm',
  'face_detection_solution_wasm_bin.js': 'text/javascript',
  'face_detection_solution_wasm_bin.wasm': 'application/wasm',
};

/** A face box, in pixels of the picture the auditor looked at. */
export interface AuditorFace {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** One frame of a pane's <video>, taken when the browser presented it, and what the auditor found in it. */
export interface FrameSample {
  /** performance.now() time the frame's last packet arrived (requestVideoFrameCallback's receiveTime); null when the browser gave none. */
  receiveTime: number | null;
  /** performance.now() when the auditor took the frame. */
  sampledAt: number;
  presentedFrames: number;
  width: number;
  height: number;
  faces: AuditorFace[];
}

export interface ImageResult {
  width: number;
  height: number;
  faces: AuditorFace[];
}

let files: Promise<Map<string, Buffer>> | undefined;

/** The solution's files from node_modules, once; throws when the package version or the model's sha256 is not the pinned one. */
function solutionFiles(): Promise<Map<string, Buffer>> {
  files ??= (async () => {
    const pkgJson = createRequire(import.meta.url).resolve(`${MEDIAPIPE_PACKAGE}/package.json`);
    const { version } = JSON.parse(await readFile(pkgJson, 'utf8')) as { version?: string };
    if (version !== MEDIAPIPE_VERSION) {
      throw new Error(`${MEDIAPIPE_PACKAGE} is ${String(version)} in node_modules; the auditor is pinned to ${MEDIAPIPE_VERSION} (npm ci)`);
    }
    const dir = dirname(pkgJson);
    const loaded = new Map<string, Buffer>();
    for (const name of Object.keys(FILES)) {
      loaded.set(name, await readFile(join(dir, name)));
    }
    const sha256 = createHash('sha256')
      .update(loaded.get(MEDIAPIPE_MODEL) ?? Buffer.alloc(0))
      .digest('hex');
    if (sha256 !== MEDIAPIPE_MODEL_SHA256) {
      throw new Error(`${MEDIAPIPE_PACKAGE}/${MEDIAPIPE_MODEL} has sha256 ${sha256}, expected ${MEDIAPIPE_MODEL_SHA256}`);
    }
    return loaded;
  })();
  return files;
}

async function serve(route: Route, loaded: Map<string, Buffer>): Promise<void> {
  const name = new URL(route.request().url()).pathname.slice(BASE_PATH.length);
  const body = loaded.get(name);
  const contentType = FILES[name];
  if (body === undefined || contentType === undefined) {
    await route.fulfill({ status: 404, contentType: 'text/plain', body: `not a file of the auditor: ${name}` });
    return;
  }
  await route.fulfill({ status: 200, contentType, body });
}

/**
 * Installs `window.livemaskAuditor` in the page: the solution (model 'short',
 * CPU inference; the graph still scales images in WebGL, SwiftShader in
 * headless Chromium) behind a queue that runs one detection at a time. It
 * keeps the graph's own score threshold, 0.5: setting minDetectionConfidence
 * makes this build abort (RET_CHECK options_.has_num_classes()).
 */
const INSTALL = `async (base) => {
  const detector = new FaceDetection({ locateFile: (file) => base + file });
  detector.setOptions({ model: 'short', selfieMode: false, useCpuInference: true });
  let latest;
  detector.onResults((results) => { latest = results.detections; });
  await detector.initialize();
  let queue = Promise.resolve();
  const detect = (canvas) => {
    const run = queue.then(async () => {
      latest = undefined;
      await detector.send({ image: canvas });
      if (!latest) { throw new Error('MediaPipe returned no results'); }
      return latest.map(({ boundingBox: b }) => ({
        x: (b.xCenter - b.width / 2) * canvas.width, y: (b.yCenter - b.height / 2) * canvas.height,
        w: b.width * canvas.width, h: b.height * canvas.height,
      }));
    });
    queue = run.then(() => undefined, () => undefined);
    return run;
  };
  const videoOf = (pane) => document.querySelector('#' + pane + ' video');
  const grab = (video) => {
    const c = document.createElement('canvas');
    c.width = video.videoWidth;
    c.height = video.videoHeight;
    c.getContext('2d').drawImage(video, 0, 0);
    return c;
  };
  /** Each block of the grid (aligned to multiples of block) that meets the box takes its mean colour. */
  const pixelate = (g, box, block) => {
    const { width, height } = g.canvas;
    const x1 = Math.min(width, box.x + box.w), y1 = Math.min(height, box.y + box.h);
    for (let y = Math.max(0, Math.floor(box.y / block) * block); y < y1; y += block) {
      for (let x = Math.max(0, Math.floor(box.x / block) * block); x < x1; x += block) {
        const w = Math.min(block, width - x), h = Math.min(block, height - y);
        const px = g.getImageData(x, y, w, h).data;
        let r = 0, gr = 0, b = 0;
        for (let i = 0; i < px.length; i += 4) { r += px[i]; gr += px[i + 1]; b += px[i + 2]; }
        const n = px.length / 4;
        g.fillStyle = 'rgb(' + Math.round(r / n) + ',' + Math.round(gr / n) + ',' + Math.round(b / n) + ')';
        g.fillRect(x, y, w, h);
      }
    }
  };
  const samplers = {};
  window.livemaskAuditor = {
    async facesIn(pane) {
      return detect(grab(videoOf(pane)));
    },
    async facesInImage(url, size, mask) {
      const img = new Image();
      img.src = url;
      await img.decode();
      const c = document.createElement('canvas');
      c.width = size ? size.width : img.naturalWidth;
      c.height = size ? size.height : img.naturalHeight;
      const g = c.getContext('2d', { willReadFrequently: true });
      g.drawImage(img, 0, 0, c.width, c.height);
      if (mask) { pixelate(g, mask.box, mask.block); }
      return { width: c.width, height: c.height, faces: await detect(c) };
    },
    startSampling(pane) {
      const video = videoOf(pane);
      const s = { samples: [], errors: [], busy: false, stopped: false };
      samplers[pane] = s;
      const onFrame = (_now, meta) => {
        if (s.stopped) { return; }
        if (!s.busy && video.videoWidth > 0) {
          s.busy = true;
          const canvas = grab(video);
          const taken = { receiveTime: meta.receiveTime ?? null, sampledAt: performance.now(), presentedFrames: meta.presentedFrames, width: canvas.width, height: canvas.height };
          detect(canvas)
            .then((faces) => { s.samples.push({ ...taken, faces }); }, (err) => { s.errors.push(String(err)); })
            .finally(() => { s.busy = false; });
        }
        video.requestVideoFrameCallback(onFrame);
      };
      video.requestVideoFrameCallback(onFrame);
    },
    samples(pane) {
      const s = samplers[pane];
      if (!s) { throw new Error('no sampling on ' + pane); }
      if (s.errors.length > 0) { throw new Error('MediaPipe failed on ' + pane + ': ' + s.errors[0]); }
      return s.samples;
    },
    stopSampling(pane) {
      const s = samplers[pane];
      if (s) { s.stopped = true; }
      delete samplers[pane];
    },
  };
}`;

/** Serves the solution to the page on its own origin and creates the detector in it; call after page.goto. */
export async function installMediaPipeAuditor(page: Page): Promise<void> {
  const loaded = await solutionFiles();
  await page.route(`**${BASE_PATH}*`, (route) => serve(route, loaded));
  await page.addScriptTag({ url: `${BASE_PATH}face_detection.js` });
  await page.evaluate(`(${INSTALL})(${JSON.stringify(BASE_PATH)})`);
}

function call<T>(page: Page, method: string, ...args: unknown[]): Promise<T> {
  return page.evaluate<T>(`window.livemaskAuditor.${method}(${args.map((a) => JSON.stringify(a)).join(', ')})`);
}

/** The faces MediaPipe finds in the pane's current frame. */
export function mediapipeFacesIn(page: Page, pane: Pane): Promise<AuditorFace[]> {
  return call(page, 'facesIn', pane);
}

/**
 * The faces MediaPipe finds in an image the page can load, drawn at `size`
 * (else its own), after pixelating `mask.box` in blocks of `mask.block` px
 * (a grid aligned to multiples of the block, each block its mean colour).
 */
export function mediapipeFacesInImage(
  page: Page,
  url: string,
  size?: { width: number; height: number },
  mask?: { box: AuditorFace; block: number },
): Promise<ImageResult> {
  return call(page, 'facesInImage', url, size ?? null, mask ?? null);
}

/** Starts auditing the pane's frames as the browser presents them (each new frame while the auditor is free). */
export function startSampling(page: Page, pane: Pane): Promise<void> {
  return call(page, 'startSampling', pane);
}

/** The frames audited since startSampling; throws if MediaPipe failed on one. */
export function samplesOf(page: Page, pane: Pane): Promise<FrameSample[]> {
  return call(page, 'samples', pane);
}

export function stopSampling(page: Page, pane: Pane): Promise<void> {
  return call(page, 'stopSampling', pane);
}

/** A box grown by `fraction` of its size on each side and clipped to the picture. */
export function expandBox(box: AuditorFace, fraction: number, width: number, height: number): AuditorFace {
  const x = Math.max(0, box.x - box.w * fraction);
  const y = Math.max(0, box.y - box.h * fraction);
  return {
    x,
    y,
    w: Math.min(width, box.x + box.w * (1 + fraction)) - x,
    h: Math.min(height, box.y + box.h * (1 + fraction)) - y,
  };
}

/**
 * Waits until `count` of the pane's audited frames pass `keep`, then stops
 * sampling (started earlier with startSampling) and returns those frames.
 */
export async function collectSamples(
  page: Page,
  pane: Pane,
  count: number,
  timeoutMs: number,
  keep: (sample: FrameSample) => boolean = () => true,
): Promise<FrameSample[]> {
  try {
    const kept = await until(
      async () => (await samplesOf(page, pane)).filter(keep),
      (samples) => samples.length >= count,
      timeoutMs,
      `${count} audited frames of the ${pane} pane`,
    );
    return kept;
  } finally {
    await stopSampling(page, pane);
  }
}
