import { describe, expect, it } from 'vitest';
import { LivemaskError } from '../../src/core/index.js';
import { RoomRegistry, type RoomEvent } from '../../src/server/index.js';

function registry(): { rooms: RoomRegistry; events: RoomEvent[] } {
  let t = Date.UTC(2026, 0, 1);
  const rooms = new RoomRegistry({ now: () => (t += 1000) });
  const events: RoomEvent[] = [];
  rooms.on('event', (e) => events.push(e));
  return { rooms, events };
}

describe('RoomRegistry', () => {
  it('records joins, leaves and mask switches with a gapless seq per room and a timestamp', () => {
    const { rooms, events } = registry();
    rooms.join('r1', 'a1', { role: 'applicant' });
    rooms.setMask('r1', 'a1', true);
    rooms.join('r2', 'x', { role: 'streamer' });
    rooms.setMask('r1', 'a1', false);
    rooms.leave('r1', 'a1');
    expect(events.map((e) => [e.room, e.seq, e.type])).toEqual([
      ['r1', 1, 'participant-joined'],
      ['r1', 2, 'mask-on'],
      ['r2', 1, 'participant-joined'],
      ['r1', 3, 'mask-off'],
      ['r1', 4, 'participant-left'],
    ]);
    expect(events[0]).toEqual({
      type: 'participant-joined',
      participant: 'a1',
      role: 'applicant',
      masked: false,
      room: 'r1',
      seq: 1,
      at: '2026-01-01T00:00:01.000Z',
    });
    expect(rooms.roomCount).toBe(2);
  });

  it('emits a mask switch only when the state changes, and keeps a mask set before the participant joins', () => {
    const { rooms, events } = registry();
    expect(rooms.setMask('r1', 'a1', true)?.type).toBe('mask-on');
    expect(rooms.setMask('r1', 'a1', true)).toBeUndefined();
    expect(rooms.isMasked('r1', 'a1')).toBe(true);
    // A token without masked: true does not unmask what the control plane masked.
    expect(rooms.join('r1', 'a1', { role: 'applicant', masked: false })).toMatchObject({ masked: true });
    expect(rooms.isMasked('r1', 'a1')).toBe(true);
    expect(events.map((e) => e.type)).toEqual(['mask-on', 'participant-joined']);
  });

  it('masks a participant whose token says masked', () => {
    const { rooms } = registry();
    expect(rooms.join('r1', 'a1', { role: 'applicant', masked: true })).toMatchObject({ masked: true });
    expect(rooms.isMasked('r1', 'a1')).toBe(true);
    expect(rooms.isMasked('r1', 'nobody')).toBe(false);
    expect(rooms.isMasked('no-room', 'a1')).toBe(false);
  });

  it('keeps a participant in the room while any of its sessions is open, and its mask across a rejoin', () => {
    const { rooms, events } = registry();
    rooms.join('r1', 'a1', { role: 'applicant', masked: true });
    expect(rooms.join('r1', 'a1', { role: 'applicant' })).toBeUndefined();
    expect(rooms.leave('r1', 'a1')).toBeUndefined();
    expect(rooms.participants('r1')).toEqual([{ id: 'a1', role: 'applicant', sessions: 1, masked: true }]);
    expect(rooms.leave('r1', 'a1')?.type).toBe('participant-left');
    expect(rooms.leave('r1', 'a1')).toBeUndefined();
    expect(rooms.leave('r1', 'ghost')).toBeUndefined();
    rooms.join('r1', 'a1', { role: 'applicant' });
    expect(rooms.isMasked('r1', 'a1')).toBe(true);
    expect(events.map((e) => e.type)).toEqual(['participant-joined', 'participant-left', 'participant-joined']);
  });

  it('records media events: presence, fail-safe, restarts and errors', () => {
    const { rooms, events } = registry();
    rooms.report('r1', { type: 'face-lost', participant: 'a1', seconds: 3 });
    rooms.report('r1', { type: 'face-back', participant: 'a1' });
    rooms.report('r1', { type: 'failsafe-engaged', participant: 'a1', reason: 'detector stalled' });
    rooms.report('r1', { type: 'failsafe-cleared', participant: 'a1' });
    rooms.report('r1', { type: 'pipeline-restarted', participant: 'a1', reason: 'ffmpeg exited with code 1' });
    rooms.report('r1', { type: 'error', reason: 'no common codec' });
    expect(events.map((e) => `${e.seq}:${e.type}`)).toEqual([
      '1:face-lost',
      '2:face-back',
      '3:failsafe-engaged',
      '4:failsafe-cleared',
      '5:pipeline-restarted',
      '6:error',
    ]);
    expect(events[0]).toMatchObject({ seconds: 3 });
    expect(events[5]).toMatchObject({ reason: 'no common codec' });
  });

  it('subscribes to one room, replays kept events after a seq, and unsubscribes', () => {
    const rooms = new RoomRegistry({ historyLimit: 3 });
    for (let i = 0; i < 5; i += 1) {
      rooms.setMask('r1', 'a1', i % 2 === 0);
    }
    rooms.setMask('r2', 'b', true);
    const seen: number[] = [];
    const off = rooms.subscribe('r1', (e) => seen.push(e.seq), { afterSeq: 3 });
    expect(seen).toEqual([4, 5]);
    // The fifth switch left a1 masked.
    rooms.setMask('r1', 'a1', false);
    rooms.setMask('r2', 'b', false);
    expect(seen).toEqual([4, 5, 6]);
    off();
    rooms.setMask('r1', 'a1', true);
    expect(seen).toEqual([4, 5, 6]);
    expect(rooms.listenerCount('event')).toBe(0);
    // Only the last three are kept.
    const replay: number[] = [];
    rooms.subscribe('r1', (e) => replay.push(e.seq), { afterSeq: 0 })();
    expect(replay).toEqual([5, 6, 7]);
  });

  it('a throwing subscriber does not stop the others', () => {
    const rooms = new RoomRegistry();
    const errors: unknown[] = [];
    rooms.on('listenererror', (_event, err) => errors.push(err));
    const seen: string[] = [];
    rooms.subscribe('r1', () => {
      throw new Error('bad listener');
    });
    rooms.subscribe('r1', (e) => seen.push(e.type));
    rooms.setMask('r1', 'a1', true);
    expect(seen).toEqual(['mask-on']);
    expect(errors).toHaveLength(1);
  });

  it('ends a room, and refuses changes once closed', () => {
    const rooms = new RoomRegistry();
    const ended: string[] = [];
    rooms.on('room-ended', (r) => ended.push(r));
    rooms.setMask('r1', 'a1', true);
    rooms.endRoom('r1');
    rooms.endRoom('r1');
    expect(ended).toEqual(['r1']);
    expect(rooms.roomCount).toBe(0);
    expect(rooms.isMasked('r1', 'a1')).toBe(false);
    expect(rooms.setMask('r1', 'a1', true)?.seq).toBe(1);
    rooms.close();
    rooms.close();
    expect(() => rooms.join('r1', 'x', { role: 'audience' })).toThrow(LivemaskError);
  });
});
