import { LivemaskError } from '../core/index.js';

/**
 * Checks an SDP offer before it reaches werift: it must look like SDP, carry
 * a video section offering VP8, and (when it has audio) Opus. Errors are
 * BAD_REQUEST (400) with a reason that names what was offered.
 */

export const VIDEO_CODECS = ['VP8'] as const;
export const AUDIO_CODECS = ['opus'] as const;

export interface OfferSummary {
  /** The kinds of the m= sections, in order. */
  kinds: string[];
  videoCodecs: string[];
  audioCodecs: string[];
}

export function summarizeOffer(sdp: string): OfferSummary {
  const lines = sdp.split(/\r?\n/).filter((l) => l !== '');
  if (lines[0]?.trim() !== 'v=0' || !lines.some((l) => l.startsWith('o=')) || !lines.some((l) => l.startsWith('m='))) {
    throw new LivemaskError('BAD_REQUEST', 'body is not an SDP offer (needs v=0, o= and at least one m= line)');
  }
  const summary: OfferSummary = { kinds: [], videoCodecs: [], audioCodecs: [] };
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
    const rtpmap = /^a=rtpmap:\d+ ([^/\s]+)\//.exec(line);
    if (rtpmap?.[1] && kind === 'video') {
      summary.videoCodecs.push(rtpmap[1]);
    } else if (rtpmap?.[1] && kind === 'audio') {
      summary.audioCodecs.push(rtpmap[1]);
    }
  }
  return summary;
}

function supported(offered: string[], wanted: readonly string[]): boolean {
  return offered.some((c) => wanted.some((w) => w.toLowerCase() === c.toLowerCase()));
}

function list(codecs: string[]): string {
  return codecs.length > 0 ? [...new Set(codecs)].join(', ') : 'none';
}

/** A WHIP offer: video with VP8 is required; audio, when present, needs Opus. */
export function checkPublishOffer(sdp: string): OfferSummary {
  const summary = summarizeOffer(sdp);
  if (!summary.kinds.includes('video')) {
    throw new LivemaskError('BAD_REQUEST', 'the offer has no video section');
  }
  checkCodecs(summary);
  return summary;
}

/** A WHEP offer: it must be able to receive VP8 video (and Opus, when it has audio). */
export function checkSubscribeOffer(sdp: string): OfferSummary {
  const summary = summarizeOffer(sdp);
  if (summary.kinds.includes('video')) {
    checkCodecs(summary);
  }
  return summary;
}

function checkCodecs(summary: OfferSummary): void {
  if (summary.kinds.includes('video') && !supported(summary.videoCodecs, VIDEO_CODECS)) {
    throw new LivemaskError(
      'BAD_REQUEST',
      `no supported video codec: offered ${list(summary.videoCodecs)}; supported ${VIDEO_CODECS.join(', ')}`,
    );
  }
  if (summary.kinds.includes('audio') && !supported(summary.audioCodecs, AUDIO_CODECS)) {
    throw new LivemaskError(
      'BAD_REQUEST',
      `no supported audio codec: offered ${list(summary.audioCodecs)}; supported ${AUDIO_CODECS.join(', ')}`,
    );
  }
}
