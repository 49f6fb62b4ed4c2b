import { describe, expect, it } from 'vitest';
import { classifyDatagram } from '../../src/live/transport-drops.js';

describe('classifyDatagram (RFC 7983 demultiplexing by first byte)', () => {
  it('tells STUN, DTLS, TURN and RTP/RTCP apart, and calls the rest unknown', () => {
    expect([0, 3].map(classifyDatagram)).toEqual(['stun', 'stun']);
    expect([20, 63].map(classifyDatagram)).toEqual(['dtls', 'dtls']);
    expect([64, 79].map(classifyDatagram)).toEqual(['turn', 'turn']);
    expect([128, 191].map(classifyDatagram)).toEqual(['media', 'media']);
    expect([4, 19, 80, 127, 192, 255].map(classifyDatagram)).toEqual(Array(6).fill('unknown'));
  });
});
