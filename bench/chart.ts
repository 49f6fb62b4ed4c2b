// The PNG chart of latency by stage: an SVG drawn by hand, rendered by sharp
// (no chart dependency). One group of bars per stage, one bar per resolution:
// the bar is the p50 per frame, the whisker reaches the p95.
import sharp from 'sharp';
import { STAGES, type ResolutionStages } from './stages.js';

export interface ChartInput {
  title: string;
  subtitle: string;
  rows: readonly ResolutionStages[];
}

const COLOURS = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759'];
const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** A round axis maximum at or above `x`: 1, 1.5, 2, 2.5, 3, 4, 5, 6 or 8 times a power of ten. */
export function niceMax(x: number): number {
  if (!(x > 0)) {
    return 1;
  }
  const p = 10 ** Math.floor(Math.log10(x));
  return ([1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10].find((m) => m * p >= x) ?? 10) * p;
}

export function stageChartSvg(input: ChartInput): string {
  const rows = input.rows;
  const left = 170;
  const plotW = 620;
  const barH = 14;
  const groupGap = 14;
  const top = 78;
  const groupH = rows.length * barH + groupGap;
  const height = top + STAGES.length * groupH + 46;
  const width = left + plotW + 110;
  const values = rows.flatMap((r) => STAGES.map((s) => r.stages[s]?.p95 ?? 0));
  const max = niceMax(Math.max(...values.filter((v) => Number.isFinite(v)), 0));
  const x = (v: number): number => left + (Math.max(0, Math.min(v, max)) / max) * plotW;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="DejaVu Sans, sans-serif">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="16" y="26" font-size="17" font-weight="bold">${esc(input.title)}</text>`,
    `<text x="16" y="46" font-size="12" fill="#444">${esc(input.subtitle)}</text>`,
  ];
  const axisY = top + STAGES.length * groupH;
  for (let i = 0; i <= 5; i++) {
    const v = (max * i) / 5;
    const gx = x(v);
    out.push(`<line x1="${gx}" y1="${top - 6}" x2="${gx}" y2="${axisY}" stroke="#ddd"/>`);
    out.push(`<text x="${gx}" y="${axisY + 16}" font-size="11" text-anchor="middle" fill="#444">${+v.toPrecision(3)}</text>`);
  }
  out.push(`<text x="${left + plotW / 2}" y="${axisY + 34}" font-size="12" text-anchor="middle">ms per frame (bar p50, whisker p95)</text>`);
  STAGES.forEach((stage, si) => {
    const gy = top + si * groupH;
    out.push(`<text x="${left - 10}" y="${gy + (rows.length * barH) / 2 + 4}" font-size="12" text-anchor="end">${esc(stage)}</text>`);
    rows.forEach((r, ri) => {
      const s = r.stages[stage];
      const y = gy + ri * barH;
      const colour = COLOURS[ri % COLOURS.length] ?? '#888';
      if (!s || s.p50 === null || !Number.isFinite(s.p50)) {
        out.push(`<text x="${left + 4}" y="${y + barH - 3}" font-size="10" fill="#888">not run</text>`);
        return;
      }
      out.push(`<rect class="bar" x="${left}" y="${y + 1}" width="${Math.max(1, x(s.p50) - left)}" height="${barH - 2}" fill="${colour}"/>`);
      if (Number.isFinite(s.p95)) {
        out.push(`<line x1="${x(s.p50)}" y1="${y + barH / 2}" x2="${x(s.p95)}" y2="${y + barH / 2}" stroke="#222"/>`);
        out.push(`<line x1="${x(s.p95)}" y1="${y + 3}" x2="${x(s.p95)}" y2="${y + barH - 3}" stroke="#222"/>`);
      }
      out.push(`<text x="${x(Math.max(s.p50, s.p95)) + 4}" y="${y + barH - 3}" font-size="10" fill="#222">${s.p50.toFixed(1)} / ${s.p95.toFixed(1)}</text>`);
    });
  });
  rows.forEach((r, ri) => {
    const lx = left + ri * 150;
    out.push(`<rect x="${lx}" y="56" width="12" height="12" fill="${COLOURS[ri % COLOURS.length] ?? '#888'}"/>`);
    out.push(`<text x="${lx + 16}" y="66" font-size="12">${esc(`${r.resolution} (${r.width}x${r.height})`)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n');
}

/** Renders the chart to a PNG file. */
export async function writeStageChart(path: string, input: ChartInput): Promise<void> {
  await sharp(Buffer.from(stageChartSvg(input))).png().toFile(path);
}
