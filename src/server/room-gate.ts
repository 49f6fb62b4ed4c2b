import type { FastifyReply } from 'fastify';
import { sendError } from './http-errors.js';

/**
 * Whether this worker serves a room now. Standalone, it serves every room.
 * In a fleet it serves only the rooms it holds: a publisher on a worker that
 * does not hold its room would miss the mask switches, which go to the
 * holder. A refusal says which answer to give:
 * - 409 ROOM_NOT_HERE: another worker holds the room (or none does); the
 *   live-room server's client library knows which;
 * - 503 with Retry-After: this worker cannot serve any room yet (it is
 *   joining the fleet).
 * While this worker is taking the room over, the gate waits for that to end
 * (masks applied) and then answers.
 */
export type RoomGate = (room: string) => RoomRefusal | undefined | Promise<RoomRefusal | undefined>;

export interface RoomRefusal {
  status: 409 | 503;
  message: string;
}

/** Sends the refusal, if any; resolves whether it did. */
export async function refusedByGate(reply: FastifyReply, gate: RoomGate | undefined, room: string): Promise<boolean> {
  const refusal = await gate?.(room);
  if (!refusal) {
    return false;
  }
  if (refusal.status === 503) {
    sendError(reply.header('retry-after', '1'), 503, 'UNAVAILABLE', refusal.message);
  } else {
    sendError(reply, 409, 'ROOM_NOT_HERE', refusal.message);
  }
  return true;
}
