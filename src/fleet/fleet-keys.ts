/**
 * Names of the fleet's queue, jobs and keys in Redis. Pure.
 *
 * One room is one BullMQ job in the `rooms` queue. Its job id is the room id
 * with a `room-` prefix: BullMQ refuses custom job ids that are whole numbers,
 * and room ids may be. The mapping is one to one, so adding a room twice adds
 * one job.
 */

export const ROOMS_QUEUE = 'rooms';

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
