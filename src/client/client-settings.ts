import { z } from 'zod';
import { ParticipantIdSchema, PostedEventSchema, RoomIdSchema, RoomParamsSchema } from '../fleet/index.js';
import { ClientError } from './client-error.js';

/** The client's defaults, in one place, and the zod schemas that check its settings and arguments. Pure. */

export const CLIENT_DEFAULTS = Object.freeze({
  /** How long startRoom waits for a worker to take the room. */
  startTimeoutMs: 30_000,
  /** How long setMask and postEvent wait for the holder's answer. */
  commandTimeoutMs: 5000,
  /** How often startRoom re-reads the room's state, and a command is retried while the room is moving. */
  pollMs: 200,
  /** How often an event iterator re-reads the room's assignment (besides the new holder's announcement). */
  watchMs: 1000,
  /** Events an iterator buffers unread before it fails with EVENTS_OVERFLOW. */
  maxBufferedEvents: 1000,
});

const Millis = z.number().int().min(1).max(24 * 3600_000);
export const SettingsSchema = z.object({
  startTimeoutMs: Millis.default(CLIENT_DEFAULTS.startTimeoutMs),
  commandTimeoutMs: Millis.default(CLIENT_DEFAULTS.commandTimeoutMs),
  pollMs: z.number().int().min(10).max(60_000).default(CLIENT_DEFAULTS.pollMs),
  watchMs: z.number().int().min(50).max(600_000).default(CLIENT_DEFAULTS.watchMs),
  maxBufferedEvents: z.number().int().min(1).max(1_000_000).default(CLIENT_DEFAULTS.maxBufferedEvents),
});
export type Settings = z.infer<typeof SettingsSchema>;

export const StartRoomSchema = z.object({
  roomId: RoomIdSchema,
  params: RoomParamsSchema.optional(),
  timeoutMs: Millis.optional(),
  keepQueued: z.boolean().optional(),
});
export const CommandOptionsSchema = z.object({ timeoutMs: Millis.optional() });
export const RoomArgSchema = z.object({ roomId: RoomIdSchema });
export const MaskSchema = z.object({ roomId: RoomIdSchema, participant: ParticipantIdSchema, masked: z.boolean() });
export const PostSchema = z.object({ roomId: RoomIdSchema, event: PostedEventSchema });

/** Parses an argument; throws ClientError BAD_REQUEST naming the field. */
export function parse<T>(schema: z.ZodType<T>, value: unknown): T {
  const result = schema.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new ClientError('BAD_REQUEST', `${issue?.path.join('.') || 'argument'}: ${issue?.message ?? 'invalid'}`);
  }
  return result.data;
}
