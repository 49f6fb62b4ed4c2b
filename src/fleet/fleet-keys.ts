/**
 * Names of the fleet's queue, jobs and keys in Redis. Pure.
 *
 * One room is one BullMQ job in the `rooms` queue. Its job id is the room id
 * with a `room-` prefix: BullMQ refuses custom job ids that are whole numbers,
 * and room ids may be. The mapping is one to one, so adding a room twice adds
 * one job.
 */

export const ROOMS_QUEUE = 'rooms';

/** A room's state (FleetKeys.state) is deleted when the room ends; this expiry is the backstop for a room never ended. */
export const ROOM_STATE_TTL_MS = 7 * 24 * 3600 * 1000;

export function roomJobId(room: string): string {
  return `room-${room}`;
}

export class FleetKeys {
  readonly prefix: string;

  constructor(prefix: string) {
    this.prefix = prefix;
  }

  /** `{workerId, publicUrl, since}` of the worker that holds the room; expires unless renewed. */
  assignment(room: string): string {
    return `${this.prefix}:fleet:assign:${room}`;
  }

  /**
   * The room's state that outlives its holder, a hash: `holder` (the latest
   * assignment), `released` (when that holder handed the room back), and
   * `mask:<participant>` ('1' or '0') for every mask switched. The next
   * holder reads it, so a failover neither unmasks anyone nor goes unstated.
   */
  state(room: string): string {
    return `${this.prefix}:fleet:state:${room}`;
  }

  /** Set by endRoom so that a worker that claims or holds the room lets it go. */
  ended(room: string): string {
    return `${this.prefix}:fleet:ended:${room}`;
  }

  /** Pub/sub channel on which endRoom names the room, so its holder lets go at once. */
  get endChannel(): string {
    return `${this.prefix}:fleet:end`;
  }

  /** Pub/sub channel of commands (mask switch, posted event) to the worker that holds the room. */
  command(room: string): string {
    return `${this.prefix}:fleet:cmd:${room}`;
  }

  /** Pub/sub channel on which the holder of the room relays its events and announces that it took the room. */
  events(room: string): string {
    return `${this.prefix}:fleet:events:${room}`;
  }

  /** Pub/sub channel on which workers answer the commands of one client. */
  reply(clientId: string): string {
    return `${this.prefix}:fleet:reply:${clientId}`;
  }

  /** Pattern of every key of this prefix (tests clean up with it). */
  get all(): string {
    return `${this.prefix}:*`;
  }
}
