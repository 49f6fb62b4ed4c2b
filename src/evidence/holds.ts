import type { KeyObject } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { EvidenceError, LivemaskError } from '../core/index.js';
import { appendAudit, type AuditRecord } from './audit.js';
import { writeFileDurable } from './durable-file.js';
import type { ChainEntry } from './hash-chain.js';
import { checkId } from './layout.js';

/**
 * Holds: a room on hold keeps every session past retention (the sweep skips
 * it) until it is released. The state is `<root>/<room>/hold.json`, written
 * durably; every hold and release is also appended to the room's audit log.
 * A change whose audit entry cannot be written is undone and the error
 * thrown, so no hold or release takes effect unaudited.
 */

export const HOLD_FILE = 'hold.json';

/** The content of `hold.json`: the last hold or release. */
export interface HoldState {
  held: boolean;
  /** When the current hold began (kept when a held room is held again); absent once released. */
  since?: string;
  /** The last change: who, when, why. */
  at: string;
  actor: string;
  reason: string;
}

export interface HoldAccess {
  actor: string;
  reason: string;
}

export interface HoldResult {
  state: HoldState;
  /** The room was held already: the hold now carries this actor and reason, and keeps its `since`. */
  alreadyHeld: boolean;
  audit: ChainEntry;
}

/** The room's hold state; undefined when it was never held. Throws EVIDENCE_INVALID when `hold.json` is unreadable. */
export async function readHold(root: string, room: string): Promise<HoldState | undefined> {
  const path = join(root, checkId('room', room), HOLD_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      return undefined;
    }
    throw new EvidenceError('EVIDENCE_IO', `cannot read the hold state of room ${room}: ${(err as Error).message}`, { cause: err });
  }
  const state = parseHold(text);
  if (!state) {
    throw new EvidenceError('EVIDENCE_INVALID', `the hold state of room ${room} (${HOLD_FILE}) is not readable`);
  }
  return state;
}

/** True when the room is on hold. Throws EVIDENCE_INVALID when `hold.json` is unreadable (the sweep then keeps the room). */
export async function isHeld(root: string, room: string): Promise<boolean> {
  return (await readHold(root, room))?.held === true;
}

/**
 * Puts a room on hold, durably, and audits it as `hold`. The room must have
 * evidence (its directory exists): EVIDENCE_NOT_FOUND otherwise. Holding a
 * held room again is allowed and audited too.
 */
export async function holdRoom(root: string, room: string, access: HoldAccess, signingKey?: KeyObject): Promise<HoldResult> {
  checkAccess(access);
  await requireRoom(root, room);
  const previous = await readHold(root, room);
  const at = new Date().toISOString();
  const alreadyHeld = previous?.held === true;
  const state: HoldState = { held: true, since: alreadyHeld && previous.since !== undefined ? previous.since : at, at, actor: access.actor, reason: access.reason };
  const audit = await changeAudited(root, room, previous, state, signingKey, {
    actor: access.actor, action: 'hold', reason: access.reason, detail: { since: state.since, alreadyHeld },
  });
  return { state, alreadyHeld, audit };
}

/** Releases a held room, durably, and audits it as `release`. Throws EVIDENCE_NOT_HELD when the room is not on hold. */
export async function releaseRoom(root: string, room: string, access: HoldAccess, signingKey?: KeyObject): Promise<{ state: HoldState; audit: ChainEntry }> {
  checkAccess(access);
  await requireRoom(root, room);
  const previous = await readHold(root, room);
  if (previous?.held !== true) {
    throw new EvidenceError('EVIDENCE_NOT_HELD', `room ${room} is not on hold, so there is nothing to release`);
  }
  const state: HoldState = { held: false, at: new Date().toISOString(), actor: access.actor, reason: access.reason };
  const audit = await changeAudited(root, room, previous, state, signingKey, {
    actor: access.actor, action: 'release', reason: access.reason, ...(previous.since !== undefined ? { detail: { heldSince: previous.since } } : {}),
  });
  return { state, audit };
}

async function changeAudited(
  root: string,
  room: string,
  previous: HoldState | undefined,
  state: HoldState,
  signingKey: KeyObject | undefined,
  record: AuditRecord,
): Promise<ChainEntry> {
  const path = join(root, room, HOLD_FILE);
  await writeHold(path, state, room);
  try {
    return await appendAudit(root, room, record, signingKey);
  } catch (err) {
    // Undo, so that no change takes effect unaudited. `held: false` reads as never held.
    await writeHold(path, previous ?? { held: false, at: state.at, actor: state.actor, reason: 'undone: the change could not be audited' }, room);
    throw err;
  }
}

/** Checked before the state changes, so that a missing actor or reason changes nothing. */
function checkAccess(access: HoldAccess): void {
  if (access.actor.trim() === '') {
    throw new LivemaskError('BAD_USAGE', 'a hold or release needs an actor');
  }
  if (access.reason.trim() === '') {
    throw new LivemaskError('BAD_USAGE', 'a hold or release needs a reason');
  }
}

async function writeHold(path: string, state: HoldState, room: string): Promise<void> {
  try {
    await writeFileDurable(path, `${JSON.stringify(state, null, 2)}\n`);
  } catch (err) {
    throw new EvidenceError('EVIDENCE_IO', `cannot write the hold state of room ${room}: ${(err as Error).message}`, { cause: err });
  }
}

async function requireRoom(root: string, room: string): Promise<void> {
  const dir = join(root, checkId('room', room));
  const found = await stat(dir).then((s) => s.isDirectory(), (err: unknown) => {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      return false;
    }
    throw err;
  });
  if (!found) {
    throw new EvidenceError('EVIDENCE_NOT_FOUND', `no evidence for room ${room} under ${root}`);
  }
}

function parseHold(text: string): HoldState | undefined {
  try {
    const v = JSON.parse(text) as Partial<HoldState> | null;
    if (v && typeof v.held === 'boolean' && typeof v.at === 'string' && typeof v.actor === 'string' && typeof v.reason === 'string') {
      return { held: v.held, at: v.at, actor: v.actor, reason: v.reason, ...(typeof v.since === 'string' ? { since: v.since } : {}) };
    }
    return undefined;
  } catch {
    return undefined;
  }
}
