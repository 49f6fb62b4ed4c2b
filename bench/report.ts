// The Markdown tables a run prints on stdout.
import type { BenchResult } from './run.js';
import { STAGES } from './stages.js';
import { cell } from './stats.js';

const table = (head: string[], rows: string[][]): string[] => [
  `| ${head.join(' | ')} |`,
  `| ${head.map(() => '---').join(' | ')} |`,
  ...rows.map((r) => `| ${r.join(' | ')} |`),
];

const trio = (p: { p50: number | null; p95: number | null; p99?: number | null }, digits = 1): string =>
  [p.p50, p.p95, ...(p.p99 !== undefined ? [p.p99] : [])].map((v) => cell(v, digits)).join(' / ');

function summary(r: BenchResult): string[] {
  const e = r.e2eLatencyMs;
  const ours = r.peer.reduce((a, p) => a + p.ours.leaks, 0);
  const theirs = r.peer.reduce((a, p) => a + p.leaks, 0);
  const leakLine = r.peer.length > 0 ? `${ours} (livemask) vs ${theirs} (peer) face-frame leaks` : `peer skipped; livemask ${r.offline.reduce((a, o) => a + o.leaks.leaks, 0)} leaks`;
  const lead = r.detectorMs;
  return table(['measure', 'result', 'target'], [
    ['masked CPU / floor (offline `livemask mask`)', cell(r.floorRatio, 2), '≤ 1.25'],
    [`added latency ${e.size}30, K=${e.lookahead}, WebRTC loopback, p50 / p95 / p99 ms`, `${trio(e)}, ${cell(e.deliveredPct, 0)}% of frames (passthrough ${trio(e.floor)}; rendition alone ${trio(e.pipeline)})`, `p95 ≤ 80 over K (${cell(80 + (e.lookahead * 1000) / 30, 0)})`],
    ['masked streams carried, 360p30 / 720p30', `${r.capacity.p360}${r.capacity.capped.p360 ? '+' : ''} / ${r.capacity.p720}${r.capacity.capped.p720 ? '+' : ''}`, '≥ 6 / ≥ 2'],
    [`front-128 p95, ${lead.resolution} (whole pass / inference)`, `${cell(lead.front128.p95, 2)} / ${cell(lead.front128.inference.p95, 2)} ms`, '≤ 3 ms'],
    ['leaks against the peer', leakLine, 'no more than the peer; 0'],
  ]);
}

function stages(r: BenchResult): string[] {
  const head = ['stage (ms per frame: p50 / p95 / p99, fps)', ...r.stages.map((s) => `${s.resolution} ${s.width}x${s.height}${s.scaledFrom ? ` (scaled from ${s.scaledFrom})` : ''}`)];
  return table(head, STAGES.map((name) => [name, ...r.stages.map((s) => {
    const st = s.stages[name];
    return st ? `${trio(st, 2)} (${cell(st.fps, 0)})` : '–';
  })]));
}

function offline(r: BenchResult): string[] {
  return table(['clip', 'frames', 'floor CPU s', 'masked CPU s', 'ratio', 'masked fps', 'leaks / face-frames', 'over-mask'], r.offline.map((o) => [
    `${o.clip} ${o.width}x${o.height}`, String(o.frames), cell(o.floor.cpuS, 2), cell(o.masked.cpuS, 2), cell(o.cpuRatio, 2), cell(o.masked.fps, 1),
    `${o.leaks.leaks} / ${o.leaks.faceFrames}`, `${cell(o.leaks.overMaskRate * 100, 1)}%`,
  ]));
}

function peer(r: BenchResult): string[] {
  if (r.peer.length === 0) {
    return [`peer skipped: ${r.peerSkipped ?? 'unknown reason'}`];
  }
  return table(['clip', 'peer fps', 'livemask fps', 'peer CPU s', 'livemask CPU s', 'peer leaks', 'livemask leaks', 'face-frames'], r.peer.map((p) => [
    p.clip, cell(p.fps, 1), cell(p.ours.fps, 1), cell(p.cpuS, 1), cell(p.ours.cpuS, 1), `${p.leaks} (${cell(p.leakRate * 100, 1)}%)`, `${p.ours.leaks} (${cell(p.ours.leakRate * 100, 1)}%)`,
    String(r.offline.find((o) => o.clip === p.clip)?.leaks.faceFrames ?? '–'),
  ]));
}

function detector(r: BenchResult): string[] {
  return table(['pass', 'resolution', 'total p50 / p95 / p99', 'inference p50 / p95 / p99', 'fps'], r.detector.map((d) => [
    d.pass, d.resolution, trio(d.total, 2), trio(d.inference, 2), cell(d.fps, 0),
  ]));
}

function batch(r: BenchResult): string[] {
  return [
    `${r.batch.note} (ep ${r.batch.ep})`,
    '',
    ...table(['model', 'N frames', 'how', 'ms per frame p50 / p95', 'fps'], r.batch.rows.map((b) => [b.model, String(b.batch), b.mode, trio({ p50: b.perFrameMs.p50, p95: b.perFrameMs.p95 }, 2), cell(b.fps, 0)])),
  ];
}

function live(r: BenchResult): string[] {
  const l = r.live;
  return [
    `Renditions' detectors: ${l.config.detectBatch > 1 ? `one shared thread, up to ${l.config.detectBatch} streams' frames per inference call (--detect-batch)` : 'a thread and batch-1 models per rendition'} (ep ${l.config.ep}).`,
    '',
    ...table(['size', 'K', 'run', 'p50 / p95 / p99 ms', 'out fps', 'dropped %', 'fail-safe %', 'cores', 'machine busy %'], l.latency.map((x) => [
      `${x.size}p`, String(x.lookahead), x.run, trio(x.latencyMs), cell(x.outFps), cell(x.droppedPct), cell(x.failsafePct), cell(x.cores, 2), String(x.machineBusyPct),
    ])),
    '',
    ...table(['size', 'N streams', 'carried', 'min out fps', 'max dropped %', 'worst p95 ms', 'cores', 'machine busy %'], l.capacity.map((c) => [
      `${c.size}p`, String(c.n), c.carried ? 'yes' : 'no', cell(c.minOutFps), cell(c.maxDroppedPct), cell(c.worstP95Ms), cell(c.cores, 2), String(c.machineBusyPct),
    ])),
    '',
    'Through a real WebRTC loopback (a `livemask serve` process, werift publisher and subscribers): the publisher\'s write of a frame\'s last packet to the subscriber\'s receipt of its output frame\'s last packet.',
    '',
    ...table(['size', 'K', 'subscriber', 'p50 / p95 / p99 ms', 'max ms', 'frames', 'delivered %'], r.webrtc.map((w) => [
      `${w.size}p`, String(w.lookahead), w.run === 'masked' ? 'audience (masked)' : 'recruiter (passthrough)', trio(w.latencyMs), cell(w.latencyMs.max), String(w.frames), cell(w.deliveredPct),
    ])),
  ];
}

/** The whole report, Markdown. */
export function formatMarkdown(r: BenchResult): string {
  const m = r.machine;
  const v = r.versions;
  return [
    `# livemask bench${r.quick ? ' --quick' : ''}: ${r.date}`,
    '',
    `- machine: ${m.host}, ${m.cores} × ${m.cpu}, ${m.memGiB} GiB, GPU ${m.gpu ?? 'none'}; ep ${m.ep}${m.ep !== m.epRequested ? ` (asked for ${m.epRequested}: fell back)` : ''}`,
    `- versions: node ${v.node}, ffmpeg ${v.ffmpeg}, onnxruntime-node ${v.onnxruntimeNode}, GStreamer ${v.gstreamer ?? 'not installed'}, livemask ${v.livemask}`,
    `- load average ${r.load.start.join(' ')} at start, ${r.load.end.join(' ')} at end; clips ${r.offline.map((o) => `${o.clip} (${o.frames} frames)`).join(', ')}`,
    `- ${Math.round(r.durationS)} s: ${Object.entries(r.phaseS).map(([k, v]) => `${k} ${Math.round(v)} s`).join(', ')}`,
    '',
    ...summary(r),
    '',
    '## Stages',
    '',
    ...stages(r),
    '',
    '## Offline against the floor (plain ffmpeg transcode, same encoder settings)',
    '',
    ...offline(r),
    '',
    `## Peer: GStreamer faceblur (Haar cascade), same clips, same decoder and encoder`,
    '',
    ...peer(r),
    '',
    '## Detector, one pass',
    '',
    ...detector(r),
    '',
    '## Several streams at once (batch sizes)',
    '',
    ...batch(r),
    '',
    `## Live masked rendition, ${l(r)}`,
    '',
    ...live(r),
    '',
    `JSON: ${r.files.json}`,
    `chart: ${r.files.png}`,
  ].join('\n');
}

function l(r: BenchResult): string {
  return `${r.live.clip}, detector ${r.live.detector}, capacity at K=${r.live.capacityLookahead}`;
}
