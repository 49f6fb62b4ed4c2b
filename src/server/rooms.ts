import { LivemaskError, TypedEmitter } from '../core/index.js';
import type { Role } from './tokens.js';

/**
 * The rooms this worker serves, in memory: who is in each room, whether each
 * participant is masked, and the room's event log (joins, leaves, mask
 * switches, presence, fail-safe, pipeline restarts, errors). Pure logic with
 * no I/O; the HTTP layer and, later, the media path drive it.
 */

export type RoomEventBody =
  | { type: 'participant-joined'; participant: string; role: Role; masked: boolean }
  | { type: 'participant-left'; participant: string }
  | { type: 'mask-on'; participant: string }
  | { type: 'mask-off'; participant: string }
  | { type: 'face-lost'; participant: string; seconds: number }
  | { type: 'face-back'; participant: string }
  | { type: 'failsafe-engaged'; participant: string; reason: string }
  | { type: 'failsafe-cleared'; participant: string }
  | { type: 'pipeline-restarted'; participant: string; reason: string }
  | { type: 'error'; participant?: string; reason: string }
  | { type: 'evidence-error'; reason: string }
  /**
   * In a fleet, this worker took the room from another: one that died or
   * lost its lock (`failover`; its media stopped without a goodbye), or one
   * that handed the room back on shutdown (`handover`).
   */
  | { type: 'failover'; fromWorker: string; fromSince: string; toWorker: string; failovers: number }
  | { type: 'handover'; fromWorker: string; releasedAt: string; toWorker: string }
  /** An event the live-room server posted (an offer sent, say): kept in the room's evidence, and relayed. */
  | { type: 'posted'; name: string; data: Record<string, unknown> };

export type RoomEventType = RoomEventBody['type'];

/** The events the media path reports; joins, leaves and mask switches have their own methods. */
export type MediaEventBody = Extract<
  RoomEventBody,
  { type: 'face-lost' | 'face-back' | 'failsafe-engaged' | 'failsafe-cleared' | 'pipeline-restarted' | 'error' | 'evidence-error' }
>;

/** A room event: `seq` counts up from 1 in each room, without gaps; `at` is an ISO 8601 time. */
export type RoomEvent = RoomEventBody & { room: string; seq: number; at: string };

export interface ParticipantState {
  id: string;
  /** The role of its latest publishing session; undefined until it first joins. */
  role: Role | undefined;
  /** Publishing sessions open now; the participant is in the room while this is above 0. */
  sessions: number;
  masked: boolean;
}

export interface RoomRegistryOptions {
  /** Events kept per room for replay to a reconnecting subscriber. Default 256. */
  historyLimit?: number;
  /** Clock, for tests. Default Date.now. */
  now?: () => number;
}

export interface RoomRegistryEvents {
  /** Every event of every room, after it is recorded. */
  event: [RoomEvent];
  'room-created': [room: string];
  'room-ended': [room: string];
}

interface Room {
  seq: number;
  participants: Map<string, ParticipantState>;
  history: RoomEvent[];
}

export class RoomRegistry extends TypedEmitter<RoomRegistryEvents> {
  readonly #rooms = new Map<string, Room>();
  readonly #historyLimit: number;
  readonly #now: () => number;
  #closed = false;

  constructor(options: RoomRegistryOptions = {}) {
    super();
    this.#historyLimit = options.historyLimit ?? 256;
    this.#now = options.now ?? Date.now;
  }

  /** Rooms known now: a room exists from its first join or mask switch until {@link endRoom}. */
  get roomCount(): number {
    return this.#rooms.size;
  }

  /**
   * A publishing session of `participant` opens. The participant is masked
   * when a mask switch or any of its tokens said so (fail closed): a token
   * without `masked: true` does not unmask a participant the control plane
   * masked. Emits participant-joined on the first open session only.
   */
  join(room: string, participant: string, options: { role: Role; masked?: boolean }): RoomEvent | undefined {
    const p = this.#participant(room, participant);
    p.role = options.role;
    p.masked = p.masked || options.masked === true;
    p.sessions += 1;
    if (p.sessions > 1) {
      return undefined;
    }
    return this.#record(room, { type: 'participant-joined', participant, role: options.role, masked: p.masked });
  }

  /** A publishing session closes; emits participant-left when it was the last. The mask state is kept. */
  leave(room: string, participant: string): RoomEvent | undefined {
    const p = this.#rooms.get(room)?.participants.get(participant);
    if (!p || p.sessions === 0) {
      return undefined;
    }
    p.sessions -= 1;
    return p.sessions === 0 ? this.#record(room, { type: 'participant-left', participant }) : undefined;
  }

  /**
   * Switches a participant's mask, before or during its connection. Emits
   * mask-on or mask-off when the state changes; returns undefined when it
   * was already so.
   */
  setMask(room: string, participant: string, masked: boolean): RoomEvent | undefined {
    const p = this.#participant(room, participant);
    if (p.masked === masked) {
      return undefined;
    }
    p.masked = masked;
    return this.#record(room, { type: masked ? 'mask-on' : 'mask-off', participant });
  }

  /** The seq of the room's latest event; 0 before its first. */
  lastSeq(room: string): number {
    return this.#rooms.get(room)?.seq ?? 0;
  }

  /** Whether a participant is masked now; a participant never seen is not. */
  isMasked(room: string, participant: string): boolean {
    return this.#rooms.get(room)?.participants.get(participant)?.masked ?? false;
  }

  /** The participants of a room known now (joined, or given a mask state), as copies. */
  participants(room: string): ParticipantState[] {
    return [...(this.#rooms.get(room)?.participants.values() ?? [])].map((p) => ({ ...p }));
  }

  /** Records an event the live-room server posted. */
  post(room: string, name: string, data: Record<string, unknown>): RoomEvent {
    return this.#record(room, { type: 'posted', name, data });
  }

  /** Records that this worker took the room over from another worker of the fleet. */
  takeover(room: string, body: Extract<RoomEventBody, { type: 'failover' | 'handover' }>): RoomEvent {
    return this.#record(room, body);
  }

  /** Records an event of the media path: presence, fail-safe, pipeline restarts, errors. */
  report(room: string, body: MediaEventBody): RoomEvent {
    return this.#record(room, body);
  }

  /**
   * Calls `listener` with each new event of `room`. With `afterSeq`, first
   * replays the kept events of the room with a higher seq. Returns the
   * function that unsubscribes.
   */
  subscribe(room: string, listener: (event: RoomEvent) => void, options: { afterSeq?: number } = {}): () => void {
    const { afterSeq } = options;
    if (afterSeq !== undefined) {
      for (const event of this.#rooms.get(room)?.history ?? []) {
        if (event.seq > afterSeq) {
          listener(event);
        }
      }
    }
    return this.on('event', (event) => {
      if (event.room === room) {
        listener(event);
      }
    });
  }

  /** Forgets a room: its participants, mask states and events. Its next event starts at seq 1 again. */
  endRoom(room: string): void {
    if (this.#rooms.delete(room)) {
      this.safeEmit('room-ended', room);
    }
  }

  /** Forgets every room and drops every listener; later changes throw CLOSED. Idempotent. */
  close(): void {
    if (this.#closed) {
      return;
    }
    this.#closed = true;
    this.#rooms.clear();
    this.removeAllListeners();
  }

  #room(room: string): Room {
    if (this.#closed) {
      throw new LivemaskError('CLOSED', 'the room registry is closed');
    }
    let r = this.#rooms.get(room);
    if (!r) {
      r = { seq: 0, participants: new Map(), history: [] };
      this.#rooms.set(room, r);
      this.safeEmit('room-created', room);
    }
    return r;
  }

  #participant(room: string, id: string): ParticipantState {
    const participants = this.#room(room).participants;
    let p = participants.get(id);
    if (!p) {
      p = { id, role: undefined, sessions: 0, masked: false };
      participants.set(id, p);
    }
    return p;
  }

  #record(room: string, body: RoomEventBody): RoomEvent {
    const r = this.#room(room);
    r.seq += 1;
    const event: RoomEvent = { ...body, room, seq: r.seq, at: new Date(this.#now()).toISOString() };
    r.history.push(event);
    if (r.history.length > this.#historyLimit) {
      r.history.shift();
    }
    this.safeEmit('event', event);
    return event;
  }
}
