// Test helpers for the detector: images to I420 through ffmpeg, truth boxes
// from the dlib and VOC XML files, and a recall counter.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Box, FaceDetection, I420Frame } from '../../src/core/index.js';
import { i420Size } from '../../src/core/index.js';

/** Decodes an image to I420 with ffmpeg, cropped to even dimensions (keeps pixel coordinates). */
export function imageToI420(path: string): I420Frame {
  const probe = spawnSync('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=width,height', '-of', 'csv=p=0', path], {
    encoding: 'utf8',
  });
  const [w0, h0] = probe.stdout.trim().split(',').map(Number);
  if (!w0 || !h0) {
    throw new Error(`ffprobe could not read ${path}: ${probe.stderr}`);
  }
  const width = w0 - (w0 % 2);
  const height = h0 - (h0 % 2);
  const args = ['-v', 'error', '-i', path, '-vf', `crop=${width}:${height}:0:0`, '-f', 'rawvideo', '-pix_fmt', 'yuv420p', '-'];
  const out = spawnSync('ffmpeg', args, { maxBuffer: 64 * 1024 * 1024 });
  if (out.status !== 0 || out.stdout.length !== i420Size(width, height)) {
    throw new Error(`ffmpeg could not decode ${path}: ${String(out.stderr)}`);
  }
  return { width, height, data: out.stdout, index: 0, ptsMs: 0 };
}

/** dlib imglab XML: <image file='..'><box top left width height/></image>. */
export function readDlibXml(path: string): Map<string, Box[]> {
  const xml = readFileSync(path, 'latin1');
  const images = new Map<string, Box[]>();
  for (const m of xml.matchAll(/<image file='([^']+)'[^>]*>([\s\S]*?)<\/image>/g)) {
    const boxes = [...(m[2] ?? '').matchAll(/<box top='(\d+)' left='(\d+)' width='(\d+)' height='(\d+)'/g)].map((b) => ({
      x: Number(b[2]),
      y: Number(b[1]),
      w: Number(b[3]),
      h: Number(b[4]),
    }));
    images.set(m[1] ?? '', boxes);
  }
  return images;
}

/** PASCAL VOC XML: every <bndbox>. */
export function readVocXml(path: string): Box[] {
  const xml = readFileSync(path, 'utf8');
  const num = (s: string, tag: string): number => Number(new RegExp(`<${tag}>([\\d.]+)</${tag}>`).exec(s)?.[1]);
  return [...xml.matchAll(/<bndbox>([\s\S]*?)<\/bndbox>/g)].map((m) => {
    const b = m[1] ?? '';
    const x = num(b, 'xmin');
    const y = num(b, 'ymin');
    return { x, y, w: num(b, 'xmax') - x, h: num(b, 'ymax') - y };
  });
}

export function iouOf(a: Box, b: Box): number {
  const ix = Math.max(0, Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x));
  const iy = Math.max(0, Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y));
  const inter = ix * iy;
  return inter / (a.w * a.h + b.w * b.h - inter);
}

/** A truth box is found when a detection overlaps it (IoU ≥ 0.3) or covers 60% of it. */
export function isFound(truth: Box, faces: readonly FaceDetection[]): boolean {
  return faces.some((f) => {
    const ix = Math.max(0, Math.min(f.x + f.w, truth.x + truth.w) - Math.max(f.x, truth.x));
    const iy = Math.max(0, Math.min(f.y + f.h, truth.y + truth.h) - Math.max(f.y, truth.y));
    return iouOf(f, truth) >= 0.3 || (ix * iy) / (truth.w * truth.h) >= 0.6;
  });
}

/** The image file name a VOC XML describes. */
export function vocFile(path: string): string {
  return /<filename>([^<]+)<\/filename>/.exec(readFileSync(path, 'utf8'))?.[1] ?? '';
}
