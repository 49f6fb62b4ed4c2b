import { describe, expect, it } from 'vitest';
import { decodeAssignment, encodeAssignment } from '../../src/fleet/assignment.js';
import { FleetKeys, roomJobId } from '../../src/fleet/fleet-keys.js';
import { checkRoomId, resolveConnection } from '../../src/fleet/fleet-options.js';
import { FLEET_DEFAULTS, FleetError } from '../../src/fleet/index.js';
import { testLogger } from './helpers.js';

/** The pure parts of the fleet: option checks, names, assignment records. */

function configError(options: Parameters<typeof resolveConnection>[0]): FleetError {
  try {
    resolveConnection(options);
  } catch (err) {
    expect(err).toBeInstanceOf(FleetError);
    expect((err as FleetError).code).toBe('CONFIG_INVALID');
    return err as FleetError;
  }
  throw new Error('expected CONFIG_INVALID');
}

describe('fleet options', () => {
  const logger = testLogger();

  it('fills in the documented defaults', () => {
    expect(resolveConnection({ redisUrl: 'redis://127.0.0.1:6379', logger })).toEqual({
      redisUrl: 'redis://127.0.0.1:6379',
      prefix: 'livemask',
      timing: { lockDurationMs: 5000, stalledIntervalMs: 2000, maxFailovers: 100, connectTimeoutMs: 5000 },
    });
    expect(FLEET_DEFAULTS.prefix).toBe('livemask');
  });

  it('names the bad field and never echoes the URL', () => {
    const url = configError({ redisUrl: 'http://:hunter2@cache', logger });
    expect(url.message).toBe('redisUrl: must be a redis:// or rediss:// URL');
    expect(configError({ redisUrl: 'redis://x', prefix: 'a:b', logger }).message).toMatch(/^prefix: /);
    expect(configError({ redisUrl: 'redis://x', timing: { lockDurationMs: 10 }, logger }).message).toMatch(/^timing\.lockDurationMs: /);
    expect(configError({ redisUrl: 'redis://x', timing: { lockDurationMs: 3000, stalledIntervalMs: 3000 }, logger }).message).toMatch(
      /^timing\.stalledIntervalMs: must be shorter/,
    );
  });

  it('maps rooms to job ids BullMQ accepts, one to one', () => {
    expect(roomJobId('42')).toBe('room-42');
    expect(roomJobId('a.b~c')).toBe('room-a.b~c');
    expect(checkRoomId('a.b~c')).toBe('a.b~c');
    expect(() => checkRoomId('a:b')).toThrow(FleetError);
    const keys = new FleetKeys('lm');
    expect([keys.assignment('r'), keys.ended('r'), keys.endChannel]).toEqual(['lm:fleet:assign:r', 'lm:fleet:ended:r', 'lm:fleet:end']);
  });

  it('reads back the assignments it writes, and nothing else', () => {
    const a = { room: 'r', workerId: 'w', since: '2026-01-01T00:00:00.000Z' };
    expect(decodeAssignment(encodeAssignment(a))).toEqual(a);
    expect(decodeAssignment(encodeAssignment({ ...a, publicUrl: 'http://w' }))).toEqual({ ...a, publicUrl: 'http://w' });
    expect(decodeAssignment(null)).toBeUndefined();
    expect(decodeAssignment('{not json')).toBeUndefined();
    expect(decodeAssignment('{"room":"r"}')).toBeUndefined();
  });
});
