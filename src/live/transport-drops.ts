import type { RTCPeerConnection } from 'werift';

/**
 * Counts what arrives on a peer's media port and is dropped before it is
 * media: datagrams that are not STUN, DTLS, TURN or RTP/RTCP by their first
 * byte (RFC 7983), and RTP/RTCP-looking ones that werift drops because they
 * fail SRTP authentication or do not parse. werift drops both silently; this
 * watches its transport from outside: our tap on the ICE connection runs
 * after werift's own handler (it subscribes later), so a media datagram
 * that did not come out as RTP or RTCP in between was dropped.
 */

export type DropReason = 'not-rtp' | 'srtp-invalid';

/** What a datagram's first byte says it is (RFC 7983), for the bytes werift handles. Pure. */
export function classifyDatagram(firstByte: number): 'stun' | 'dtls' | 'turn' | 'media' | 'unknown' {
  if (firstByte <= 3) {
    return 'stun';
  }
  if (firstByte >= 20 && firstByte <= 63) {
    return 'dtls';
  }
  if (firstByte >= 64 && firstByte <= 79) {
    return 'turn';
  }
  if (firstByte >= 128 && firstByte <= 191) {
    return 'media';
  }
  return 'unknown';
}

/**
 * Taps every DTLS transport of `pc` (call once it is connected, when SRTP
 * has started); `onDrop` is called for each dropped datagram. Returns the
 * function that stops the tap.
 */
export function tapTransportDrops(pc: RTCPeerConnection, onDrop: (reason: DropReason) => void): () => void {
  const stops: (() => void)[] = [];
  for (const dtls of pc.dtlsTransports) {
    let delivered = 0;
    const rtp = dtls.onRtp.subscribe(() => {
      delivered += 1;
    });
    const rtcp = dtls.onRtcp.subscribe(() => {
      delivered += 1;
    });
    let seen = 0;
    const data = dtls.iceTransport.connection.onData.subscribe((datagram: Buffer) => {
      const kind = classifyDatagram(datagram[0] ?? 0);
      if (kind === 'unknown') {
        onDrop('not-rtp');
      } else if (kind === 'media' && dtls.srtpStarted) {
        // One RTCP datagram may hold several packets: any delivery counts as this one's.
        if (delivered === seen) {
          onDrop('srtp-invalid');
        }
        seen = delivered;
      }
    });
    stops.push(() => {
      rtp.unSubscribe();
      rtcp.unSubscribe();
      data.unSubscribe();
    });
  }
  return () => stops.splice(0).forEach((s) => s());
}
