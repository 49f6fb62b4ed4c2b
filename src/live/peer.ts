import { LivemaskError } from '../core/index.js';
import { RTCPeerConnection, RTCRtpCodecParameters, type PeerConfig } from 'werift';

/**
 * werift peer connections for the media plane: VP8, H.264 (packetization
 * mode 1) and Opus only, host
 * candidates only (no STUN or TURN servers), and non-trickle answers that
 * hold every gathered candidate.
 */

export interface PeerOptions {
  /** Extra host addresses to gather on, e.g. ['127.0.0.1'] for loopback. */
  hostAddresses?: string[];
  /**
   * 'max-bundle' for a client peer that offers audio and video: one ICE
   * transport. With werift's default ('max-compat') an offerer gathers one
   * transport per m-line, and after a BUNDLE answer the unused one's sockets
   * stay open after close() (2 UDP sockets per peer, which kept the bench's
   * process alive). The server answers with the default, so that a client
   * offering without BUNDLE still works.
   */
  bundlePolicy?: 'max-bundle' | 'max-compat';
  /** The video codecs to offer or accept, in order of preference. Default: VP8, then H.264. */
  videoCodecs?: readonly VideoCodecName[];
}

export type VideoCodecName = 'vp8' | 'h264';

const VIDEO_FEEDBACK = [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }, { type: 'ccm', parameter: 'fir' }];

/**
 * The codecs a peer offers or accepts. Video: VP8 first, then H.264 in
 * packetization mode 1 (werift matches codecs by name, so offers are rid of
 * mode 0 first: see withoutH264Mode0). `video` narrows a client peer to one.
 */
export function mediaCodecs(video: readonly VideoCodecName[] = ['vp8', 'h264']): PeerConfig['codecs'] {
  const all: Record<VideoCodecName, RTCRtpCodecParameters> = {
    vp8: new RTCRtpCodecParameters({ mimeType: 'video/VP8', clockRate: 90_000, rtcpFeedback: VIDEO_FEEDBACK }),
    h264: new RTCRtpCodecParameters({
      mimeType: 'video/H264',
      clockRate: 90_000,
      rtcpFeedback: VIDEO_FEEDBACK,
      parameters: 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f',
    }),
  };
  return {
    video: video.map((c) => all[c]),
    audio: [new RTCRtpCodecParameters({ mimeType: 'audio/opus', clockRate: 48_000, channels: 2 })],
  };
}

export function createPeer(options: PeerOptions = {}): RTCPeerConnection {
  return new RTCPeerConnection({
    iceServers: [],
    iceUseIpv6: false,
    iceAdditionalHostAddresses: options.hostAddresses ?? ['127.0.0.1'],
    codecs: mediaCodecs(options.videoCodecs),
    ...(options.bundlePolicy !== undefined ? { bundlePolicy: options.bundlePolicy } : {}),
  });
}

/** Resolves once ICE gathering is complete (at once when it already is). */
export function gathered(pc: RTCPeerConnection, timeoutMs = 5000): Promise<void> {
  if (pc.iceGatheringState === 'complete') {
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      sub.unSubscribe();
      resolve();
    }, timeoutMs);
    const sub = pc.iceGatheringStateChange.subscribe((state) => {
      if (state === 'complete') {
        clearTimeout(timer);
        sub.unSubscribe();
        resolve();
      }
    });
  });
}

/**
 * Answers a remote offer: sets it, turns every transceiver to `direction`,
 * and returns the answer SDP after gathering completes.
 */
export async function answer(pc: RTCPeerConnection, offer: string, direction: 'recvonly' | 'sendonly'): Promise<string> {
  try {
    await pc.setRemoteDescription({ type: 'offer', sdp: offer });
  } catch (err) {
    const reason = err instanceof Error ? err.message : 'invalid';
    throw new LivemaskError('BAD_REQUEST', `the SDP offer could not be applied: ${reason}`, { cause: err });
  }
  for (const t of pc.getTransceivers()) {
    t.setDirection(direction);
  }
  await pc.setLocalDescription(await pc.createAnswer());
  await gathered(pc);
  const sdp = pc.localDescription?.sdp;
  if (sdp === undefined) {
    throw new Error('werift produced no local description');
  }
  return sdp;
}

/** The codec name of a negotiated video codec, or undefined for one this worker does not handle. */
export function videoCodecName(codec: { mimeType: string } | undefined): VideoCodecName | undefined {
  const mime = codec?.mimeType.toLowerCase();
  return mime === 'video/vp8' ? 'vp8' : mime === 'video/h264' ? 'h264' : undefined;
}
