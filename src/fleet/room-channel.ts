import { z } from 'zod';
import { RoomIdSchema } from './fleet-options.js';

/**
 * The messages of a room's Redis channels (see {@link FleetKeys}), shared by
 * the client library (src/client/) and the worker's relay
 * (room-relay.ts). Pure: schemas and their encoders only.
 *
 * - `command(room)`: a client asks the holder of the room to switch a mask or
 *   record a posted event. Each command names the client's reply channel and
 *   an id; the holder answers on `reply(clientId)` once it applied it.
 * - `events(room)`: the holder relays every event of the room (the objects
 *   its SSE stream sends) and announces that it took the room.
 */

/** A participant id, as the HTTP API accepts it (the same rule as a room id). */
export const ParticipantIdSchema = RoomIdSchema;

/** Id of a command or of a client: random hex. */
const TokenSchema = z.string().regex(/^[a-f0-9]{8,64}$/);

/**
 * An event the live-room server posts: the rule of `POST /v1/rooms/{room}/events`
 * (src/server/room-routes.ts), whose body is at most {@link MAX_POSTED_BYTES}.
 */
export const PostedEventSchema = z.strictObject({
  type: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, { error: 'must be 1-64 of a-z 0-9 . _ - (starting with a letter or digit)' }),
  data: z.record(z.string(), z.json()).optional(),
});
export type PostedEvent = z.infer<typeof PostedEventSchema>;

export const MAX_POSTED_BYTES = 16 * 1024;

export const RoomCommandSchema = z.discriminatedUnion('op', [
  z.object({ op: z.literal('set-mask'), id: TokenSchema, replyTo: TokenSchema, participant: ParticipantIdSchema, masked: z.boolean() }),
  z.object({ op: z.literal('post-event'), id: TokenSchema, replyTo: TokenSchema, event: PostedEventSchema }),
]);
export type RoomCommand = z.infer<typeof RoomCommandSchema>;

/** Why a holder refused a command. */
export const CommandFailureCodeSchema = z.enum(['ROOM_NOT_HELD', 'BAD_REQUEST', 'COMMAND_FAILED']);
export type CommandFailureCode = z.infer<typeof CommandFailureCodeSchema>;

export const CommandReplySchema = z.discriminatedUnion('ok', [
  z.object({
    ok: z.literal(true),
    id: TokenSchema,
    workerId: z.string(),
    /** set-mask: whether the state changed (false when it already was so). */
    changed: z.boolean(),
    /** The seq and time of the event the command recorded, when it recorded one. */
    seq: z.number().int().optional(),
    at: z.string().optional(),
  }),
  z.object({ ok: z.literal(false), id: TokenSchema, workerId: z.string(), code: CommandFailureCodeSchema, message: z.string() }),
]);
export type CommandReply = z.infer<typeof CommandReplySchema>;

/** A room event as relayed: the fields every event has; the rest is kept as sent. */
export const RelayedEventSchema = z.looseObject({ type: z.string(), room: RoomIdSchema, seq: z.number().int(), at: z.string() });
export type RelayedEvent = z.infer<typeof RelayedEventSchema>;

export const RoomBroadcastSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('event'), workerId: z.string(), event: RelayedEventSchema }),
  /** The worker took the room: listeners re-read the assignment. */
  z.object({ kind: z.literal('assigned'), workerId: z.string() }),
]);
export type RoomBroadcast = z.infer<typeof RoomBroadcastSchema>;

/** Parses one channel message; undefined when it is not JSON or does not fit the schema. */
export function decodeMessage<T>(schema: z.ZodType<T>, text: string): T | undefined {
  try {
    const parsed = schema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
