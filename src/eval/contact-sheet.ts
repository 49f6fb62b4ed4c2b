import sharp, { type OverlayOptions } from 'sharp';
import type { RgbImage } from './i420-rgb.js';

/** One row of the sheet: the original crop and the masked crop, with a caption. */
export interface SheetRow {
  readonly original: RgbImage;
  readonly masked: RgbImage;
  readonly caption: string;
}

export interface ContactSheetOptions {
  /** Height of each crop on the sheet, px. Default 160. */
  tileHeight?: number;
}

const CAPTION_H = 22;
const GAP = 6;

function escapeXml(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

async function tile(img: RgbImage, height: number): Promise<{ buf: Buffer; width: number }> {
  const width = Math.max(1, Math.round((img.width * height) / img.height));
  const buf = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } })
    .resize(width, height, { kernel: 'nearest', fit: 'fill' })
    .png()
    .toBuffer();
  return { buf, width };
}

function caption(text: string, width: number): Buffer {
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${CAPTION_H}">` +
    `<text x="4" y="16" font-family="DejaVu Sans Mono, monospace" font-size="13" fill="#fff">${escapeXml(text)}</text></svg>`;
  return Buffer.from(svg);
}

/**
 * Writes a PNG: one row per entry, original crop | masked crop, each scaled to
 * `tileHeight`, a caption under each pair, on a dark background.
 */
export async function writeContactSheet(path: string, rows: readonly SheetRow[], options: ContactSheetOptions = {}): Promise<void> {
  const th = options.tileHeight ?? 160;
  const layers: OverlayOptions[] = [];
  let top = GAP;
  let sheetWidth = 320;
  for (const row of rows) {
    const a = await tile(row.original, th);
    const b = await tile(row.masked, th);
    const rowWidth = a.width + b.width + 3 * GAP;
    sheetWidth = Math.max(sheetWidth, rowWidth);
    layers.push({ input: a.buf, left: GAP, top }, { input: b.buf, left: 2 * GAP + a.width, top });
    layers.push({ input: caption(row.caption, Math.max(rowWidth, 320)), left: 0, top: top + th });
    top += th + CAPTION_H + GAP;
  }
  await sharp({ create: { width: sheetWidth, height: Math.max(top, 40), channels: 3, background: '#202020' } })
    .composite(layers)
    .png()
    .toFile(path);
}
