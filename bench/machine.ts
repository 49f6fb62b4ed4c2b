// The machine and the versions a result was measured with.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, hostname, loadavg, totalmem } from 'node:os';
import ort from 'onnxruntime-node';
import { checkFfmpeg } from '../src/media/index.js';

export interface MachineInfo {
  host: string;
  cpu: string;
  cores: number;
  memGiB: number;
  /** `nvidia-smi`'s GPU names, or null where there is none. */
  gpu: string | null;
  /** The execution provider the detector really ran on. */
  ep: 'cpu' | 'cuda';
  /** The one asked for (--ep). */
  epRequested: 'cpu' | 'cuda';
}

export interface Versions {
  node: string;
  ffmpeg: string;
  onnxruntimeNode: string;
  /** gst-launch-1.0's GStreamer version, or null when it is not installed. */
  gstreamer: string | null;
  livemask: string;
}

function firstLine(cmd: string, args: string[]): string | null {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0 || typeof r.stdout !== 'string') {
    return null;
  }
  return r.stdout.trim().split('\n')[0]?.trim() || null;
}

export function cpuModel(): string {
  try {
    return /^model name\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? cpus()[0]?.model ?? '?';
  } catch {
    return cpus()[0]?.model ?? '?'; // no /proc (not Linux)
  }
}

/** The GPUs nvidia-smi lists, joined; null when nvidia-smi is absent or lists none. */
export function gpuName(): string | null {
  const r = spawnSync('nvidia-smi', ['--query-gpu=name,memory.total', '--format=csv,noheader'], { encoding: 'utf8', timeout: 10_000 });
  const names = r.status === 0 && typeof r.stdout === 'string' ? r.stdout.trim().split('\n').filter((l) => l.trim() !== '') : [];
  return names.length > 0 ? names.join('; ') : null;
}

export function machineInfo(ep: 'cpu' | 'cuda', epRequested: 'cpu' | 'cuda'): MachineInfo {
  return { host: hostname(), cpu: cpuModel(), cores: cpus().length, memGiB: Math.round(totalmem() / 2 ** 30), gpu: gpuName(), ep, epRequested };
}

/** GStreamer's version from gst-launch-1.0, or null when it is not installed. */
export function gstreamerVersion(): string | null {
  const out = firstLine('gst-launch-1.0', ['--version']);
  return out === null ? null : (/version (\S+)/.exec(out)?.[1] ?? out);
}

export async function versions(livemask: string): Promise<Versions> {
  const ffmpeg = await checkFfmpeg();
  return { node: process.version, ffmpeg: ffmpeg.version, onnxruntimeNode: ort.env.versions.node ?? ort.env.versions.common, gstreamer: gstreamerVersion(), livemask };
}

export function load(): number[] {
  return loadavg().map((x) => Math.round(x * 100) / 100);
}
