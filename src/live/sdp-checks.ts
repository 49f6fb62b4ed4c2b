import { LivemaskError } from '../core/index.js';

/**
 * Checks an SDP offer before it reaches werift: it must look like SDP, carry
 * a video section offering VP8 or H.264 in packetization mode 1 (a
 * publisher), or VP8 (a subscriber: the masked rendition is VP8), and (when
 * it has audio) Opus. Errors are BAD_REQUEST (400) with a reason that names
 * what was offered.
 */

export const VIDEO_CODECS = ['VP8', 'H264'] as const;
export const AUDIO_CODECS = ['opus'] as const;

export interface OfferSummary {
  /** The kinds of the m= sections, in order. */
  kinds: string[];
  videoCodecs: string[];
  audioCodecs: string[];
  /** Video payload types offered as H.264 without packetization-mode=1 (werift would negotiate them by name alone). */
  h264WithoutMode1: number[];
}

export function summarizeOffer(sdp: string): OfferSummary {
  const lines = sdp.split(/\r?\n/).filter((l) => l !== '');
  if (lines[0]?.trim() !== 'v=0' || !lines.some((l) => l.startsWith('o=')) || !lines.some((l) => l.startsWith('m='))) {
    throw new LivemaskError('BAD_REQUEST', 'body is not an SDP offer (needs v=0, o= and at least one m= line)');
  }
  const summary: OfferSummary = { kinds: [], videoCodecs: [], audioCodecs: [], h264WithoutMode1: [] };
  const h264: number[] = [];
  const mode1 = new Set<number>();
  let kind: string | undefined;
  for (const line of lines) {
    const media = /^m=(\w+) \d+ \S+/.exec(line);
    if (line.startsWith('m=')) {
      if (!media?.[1]) {
        throw new LivemaskError('BAD_REQUEST', 'SDP has a malformed m= line');
      }
      kind = media[1];
      summary.kinds.push(kind);
      continue;
    }
    const rtpmap = /^a=rtpmap:(\d+) ([^/\s]+)\//.exec(line);
    const fmtp = /^a=fmtp:(\d+) (.*)$/.exec(line);
    if (fmtp?.[2] !== undefined && kind === 'video' && /(^|;)\s*packetization-mode=1\s*(;|$)/.test(fmtp[2])) {
      mode1.add(Number(fmtp[1]));
    }
    if (rtpmap?.[2] && kind === 'video') {
      summary.videoCodecs.push(rtpmap[2]);
      if (rtpmap[2].toUpperCase() === 'H264') {
        h264.push(Number(rtpmap[1]));
      }
    } else if (rtpmap?.[2] && kind === 'audio') {
      summary.audioCodecs.push(rtpmap[2]);
    }
  }
  summary.h264WithoutMode1 = h264.filter((pt) => !mode1.has(pt));
  return summary;
}

function supported(offered: string[], wanted: readonly string[]): boolean {
  return offered.some((c) => wanted.some((w) => w.toLowerCase() === c.toLowerCase()));
}

function list(codecs: string[]): string {
  return codecs.length > 0 ? [...new Set(codecs)].join(', ') : 'none';
}

/** A WHIP offer: video with VP8 or H.264 (packetization mode 1) is required; audio, when present, needs Opus. */
export function checkPublishOffer(sdp: string): OfferSummary {
  const summary = summarizeOffer(sdp);
  if (!summary.kinds.includes('video')) {
    throw new LivemaskError('BAD_REQUEST', 'the offer has no video section');
  }
  checkCodecs(summary, VIDEO_CODECS, 'H264 needs packetization-mode=1');
  return summary;
}

/**
 * A WHEP offer: it must be able to receive VP8 video, which the masked
 * rendition and the cover frame are (and Opus, when it has audio). H.264 is
 * used, besides, for the passthrough of an H.264 publisher.
 */
export function checkSubscribeOffer(sdp: string): OfferSummary {
  const summary = summarizeOffer(sdp);
  if (summary.kinds.includes('video')) {
    checkCodecs(summary, ['VP8'], 'VP8 is required to receive; H264 (packetization-mode=1) besides');
  }
  return summary;
}

/**
 * The offer without its H.264 payload types that lack packetization-mode=1:
 * werift matches codecs by name, and would answer with them. Their rtpmap,
 * fmtp and rtcp-fb lines go too, and RTX entries pointing at them.
 */
export function withoutH264Mode0(sdp: string, summary: OfferSummary): string {
  if (summary.h264WithoutMode1.length === 0) {
    return sdp;
  }
  const drop = new Set(summary.h264WithoutMode1);
  for (const m of sdp.matchAll(/^a=fmtp:(\d+) apt=(\d+)\s*$/gm)) {
    if (drop.has(Number(m[2]))) {
      drop.add(Number(m[1]));
    }
  }
  const eol = sdp.includes('\r\n') ? '\r\n' : '\n';
  return sdp.split(/\r?\n/).flatMap((line) => {
    const attr = /^a=(?:rtpmap|fmtp|rtcp-fb):(\d+)[ ]/.exec(line);
    if (attr && drop.has(Number(attr[1]))) {
      return [];
    }
    const media = /^(m=video \d+ \S+)((?: \d+)+)$/.exec(line);
    if (media?.[1] && media[2]) {
      return [media[1] + media[2].split(' ').filter((pt) => pt !== '' && !drop.has(Number(pt))).map((pt) => ` ${pt}`).join('')];
    }
    return [line];
  }).join(eol);
}

function checkCodecs(summary: OfferSummary, video: readonly string[], note: string): void {
  // H.264 only in packetization mode 0 is not H.264 we take.
  const h264Usable = summary.videoCodecs.filter((c) => c.toUpperCase() === 'H264').length > summary.h264WithoutMode1.length;
  const usable = summary.videoCodecs.filter((c) => c.toUpperCase() !== 'H264' || h264Usable);
  if (summary.kinds.includes('video') && !supported(usable, video)) {
    throw new LivemaskError(
      'BAD_REQUEST',
      `no supported video codec: offered ${list(summary.videoCodecs)}; supported ${video.join(', ')} (${note})`,
    );
  }
  if (summary.kinds.includes('audio') && !supported(summary.audioCodecs, AUDIO_CODECS)) {
    throw new LivemaskError(
      'BAD_REQUEST',
      `no supported audio codec: offered ${list(summary.audioCodecs)}; supported ${AUDIO_CODECS.join(', ')}`,
    );
  }
}
