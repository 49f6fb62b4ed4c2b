import { describe, expect, it } from 'vitest';
import { LivemaskError } from '../../src/core/index.js';
import { DAY_MS, expiredSessions, judgeSessions, retentionReference, type SessionTimes } from '../../src/evidence/index.js';
import { DEFAULT_RETENTION_DAYS, parseRetentionConfig } from '../../src/server/index.js';

const NOW = new Date('2025-06-01T00:00:00.000Z');
const daysAgo = (d: number): string => new Date(NOW.getTime() - d * DAY_MS).toISOString();

function session(sessionId: string, t: Partial<SessionTimes>, room = 'r1'): SessionTimes {
  return { room, sessionId, sealed: true, ...t };
}

describe('retention decision (pure)', () => {
  it('counts a sealed session from its end, else its start, else its newest file', () => {
    expect(retentionReference(session('a', { startedAt: daysAgo(100), endedAt: daysAgo(95), newestMtimeMs: NOW.getTime() }))).toEqual({
      basis: 'ended', ms: Date.parse(daysAgo(95)),
    });
    expect(retentionReference(session('b', { startedAt: daysAgo(100), newestMtimeMs: NOW.getTime() }))).toEqual({ basis: 'started', ms: Date.parse(daysAgo(100)) });
    expect(retentionReference(session('c', { endedAt: 'not a time', newestMtimeMs: 5 }))).toEqual({ basis: 'modified', ms: 5 });
    expect(retentionReference(session('d', {}))).toBeUndefined();
  });

  it('counts an open session from its last write, so a session still being written is never old', () => {
    const open = session('o', { sealed: false, startedAt: daysAgo(400), newestMtimeMs: NOW.getTime() - 60_000 });
    expect(retentionReference(open)).toEqual({ basis: 'modified', ms: NOW.getTime() - 60_000 });
    expect(expiredSessions([open], new Set(), NOW, 90)).toEqual([]);
    const abandoned = session('x', { sealed: false, startedAt: daysAgo(400), newestMtimeMs: Date.parse(daysAgo(120)) });
    expect(expiredSessions([abandoned], new Set(), NOW, 90)).toEqual([abandoned]);
  });

  it('expires only what is older than the retention and not held, at the boundary exactly', () => {
    const sessions = [
      session('old', { endedAt: daysAgo(91) }),
      session('edge', { endedAt: daysAgo(90) }),
      session('new', { endedAt: daysAgo(1) }),
      session('held-old', { endedAt: daysAgo(200) }, 'r2'),
      session('no-time', {}),
    ];
    expect(expiredSessions(sessions, new Set(['r2']), NOW, 90).map((s) => s.sessionId)).toEqual(['old']);
    expect(judgeSessions(sessions, new Set(['r2']), NOW, 90).map((v) => [v.session.sessionId, v.outcome])).toEqual([
      ['old', 'delete'], ['edge', 'retained'], ['new', 'retained'], ['held-old', 'held'], ['no-time', 'no-age'],
    ]);
    // One millisecond past the boundary expires; once released, the held room's session goes too.
    const justPast = new Date(NOW.getTime() + 1);
    expect(expiredSessions(sessions, new Set(), justPast, 90).map((s) => s.sessionId)).toEqual(['old', 'edge', 'held-old']);
    expect(expiredSessions(sessions, new Set(), NOW, 1).map((s) => s.sessionId)).toEqual(['old', 'edge', 'held-old']);
  });

  it('refuses a retention that is not a whole number of days, at least 1', () => {
    for (const days of [0, -1, 1.5, Number.NaN]) {
      expect(() => expiredSessions([], new Set(), NOW, days)).toThrow(LivemaskError);
    }
  });
});

describe('retention configuration', () => {
  it('defaults to 90 days (exports 30); the flag wins over LIVEMASK_RETENTION_DAYS', () => {
    expect(DEFAULT_RETENTION_DAYS).toBe(90);
    expect(parseRetentionConfig({}, {})).toEqual({ retentionDays: 90, exportRetentionDays: 30 });
    expect(parseRetentionConfig({}, { LIVEMASK_RETENTION_DAYS: ' 30 ', LIVEMASK_EXPORT_RETENTION_DAYS: '7' })).toEqual({ retentionDays: 30, exportRetentionDays: 7 });
    expect(parseRetentionConfig({ retentionDays: '7' }, { LIVEMASK_RETENTION_DAYS: 'junk' })).toEqual({ retentionDays: 7, exportRetentionDays: 30 });
  });

  it('names the flag or the variable in the error', () => {
    const bad = (flags: { retentionDays?: string }, env: NodeJS.ProcessEnv): unknown => {
      try {
        parseRetentionConfig(flags, env);
        return undefined;
      } catch (err) {
        return err;
      }
    };
    expect(bad({ retentionDays: 'abc' }, {})).toMatchObject({ code: 'CONFIG_INVALID', message: '--retention-days: must be a whole number from 1 to 36500' });
    expect(bad({ retentionDays: '2.5' }, {})).toMatchObject({ code: 'CONFIG_INVALID', message: expect.stringMatching(/^--retention-days: must be a whole number/) as unknown });
    expect(bad({}, { LIVEMASK_RETENTION_DAYS: '0' })).toMatchObject({ code: 'CONFIG_INVALID', message: 'LIVEMASK_RETENTION_DAYS: must be at least 1' });
    expect(bad({}, { LIVEMASK_EXPORT_RETENTION_DAYS: 'soon' })).toMatchObject({ code: 'CONFIG_INVALID', message: expect.stringMatching(/^LIVEMASK_EXPORT_RETENTION_DAYS: must be a whole number/) as unknown });
    expect(bad({}, { LIVEMASK_RETENTION_DAYS: '' })).toMatchObject({ message: expect.stringMatching(/^LIVEMASK_RETENTION_DAYS: /) as unknown });
    expect(bad({}, { LIVEMASK_RETENTION_DAYS: '99999' })).toMatchObject({ message: 'LIVEMASK_RETENTION_DAYS: must be at most 36500' });
  });
});
