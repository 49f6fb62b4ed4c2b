import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { LivemaskError, type Logger } from '../core/index.js';
import { EventStream } from './event-stream.js';
import { sendError } from './http-errors.js';
import { claimsOf, participantParams, requireRoomToken, roomParams } from './room-auth.js';
import { refusedByGate, type RoomGate } from './room-gate.js';
import type { RoomEvent, RoomRegistry } from './rooms.js';
import type { TokenVerifier } from './tokens.js';

/**
 * The control endpoints of a room, for the live-room server (`control`
 * tokens): the mask switch and the room's event stream.
 */

export interface RoomRoutesContext {
  rooms: RoomRegistry;
  verifier: TokenVerifier;
  logger: Logger;
  /** Open event streams; the server closes them on stop. */
  streams: Set<EventStream>;
  heartbeatMs: number;
  /** True once stop has begun: no new event streams then. */
  stopping: () => boolean;
  /** In a fleet: refuses mask switches and posted events for rooms this worker does not hold. */
  gate?: RoomGate;
}

const MaskBody = z.strictObject({ masked: z.boolean() });

/**
 * A posted room event: a name the live-room server chooses, and JSON data kept as given.
 * The client library checks the same rule (PostedEventSchema in src/fleet/room-channel.ts).
 */
const MAX_POSTED_BYTES = 16 * 1024;
const PostedEventBody = z.strictObject({
  type: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, { error: 'must be 1-64 of a-z 0-9 . _ - (starting with a letter or digit)' }),
  data: z.record(z.string(), z.json()).optional(),
});

export function registerRoomRoutes(app: FastifyInstance, ctx: RoomRoutesContext): void {
  const control = requireRoomToken(ctx.verifier, ['control']);

  app.put('/v1/rooms/:room/participants/:participant/mask', { onRequest: control }, async (request, reply) => {
    const { room, participant } = participantParams(request);
    const body = MaskBody.safeParse(request.body);
    if (!body.success) {
      const issue = body.error.issues[0];
      const where = issue?.path.length ? `${issue.path.join('.')}: ` : '';
      throw new LivemaskError('BAD_REQUEST', `body must be {"masked": true|false}: ${where}${issue?.message ?? 'invalid'}`);
    }
    if (await refusedByGate(reply, ctx.gate, room)) {
      return reply;
    }
    switchMask(ctx.rooms, ctx.logger, room, participant, body.data.masked);
    return reply.code(204).send();
  });

  app.get('/v1/rooms/:room/events', { onRequest: control }, (request, reply) => openEvents(ctx, request, reply));

  app.post('/v1/rooms/:room/events', { onRequest: control, bodyLimit: MAX_POSTED_BYTES }, async (request, reply) => {
    const { room } = roomParams(request);
    const body = PostedEventBody.safeParse(request.body);
    if (!body.success) {
      const issue = body.error.issues[0];
      const where = issue?.path.length ? `${issue.path.join('.')}: ` : '';
      throw new LivemaskError('BAD_REQUEST', `body must be {"type": "<name>", "data": {...}}: ${where}${issue?.message ?? 'invalid'}`);
    }
    if (await refusedByGate(reply, ctx.gate, room)) {
      return reply;
    }
    const event = postRoomEvent(ctx.rooms, ctx.logger, room, body.data.type, body.data.data ?? {});
    return reply.code(202).send({ seq: event.seq, at: event.at });
  });
}

/**
 * Switches a participant's mask: what `PUT .../mask` does once the request
 * is checked, shared with the fleet's command channel (src/fleet/room-relay.ts).
 * Returns the event recorded, or undefined when the mask already was so.
 */
export function switchMask(rooms: RoomRegistry, logger: Logger, room: string, participant: string, masked: boolean): RoomEvent | undefined {
  const event = rooms.setMask(room, participant, masked);
  logger.info({ room, participant, masked, changed: event !== undefined }, 'mask switched');
  return event;
}

/** Records a posted event: what `POST .../events` does once the request is checked, shared with the fleet's command channel. */
export function postRoomEvent(rooms: RoomRegistry, logger: Logger, room: string, type: string, data: Record<string, unknown>): RoomEvent {
  const event = rooms.post(room, type, data);
  // The data may hold personal details (an offer's terms): only the name is logged.
  logger.info({ room, name: type, seq: event.seq }, 'room event posted');
  return event;
}

function openEvents(ctx: RoomRoutesContext, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const { room } = roomParams(request);
  claimsOf(request); // throws if this route ever loses its token hook
  if (ctx.stopping()) {
    return sendError(reply.header('retry-after', '1'), 503, 'UNAVAILABLE', 'server is stopping');
  }
  const afterSeq = lastEventId(request.headers['last-event-id']);
  reply.hijack();
  const stream = new EventStream(reply.raw, { heartbeatMs: ctx.heartbeatMs });
  const log = ctx.logger.child({ room, reqId: request.id });
  ctx.streams.add(stream);
  const send = (event: RoomEvent): void => stream.send(event.type, event, event.seq);
  const unsubscribe = ctx.rooms.subscribe(room, send, afterSeq !== undefined ? { afterSeq } : {});
  stream.once('close', () => {
    unsubscribe();
    ctx.streams.delete(stream);
    log.info('events stream closed');
  });
  log.info({ afterSeq }, 'events stream opened');
  return reply;
}

function lastEventId(header: string | string[] | undefined): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined || !/^\d{1,15}$/.test(value.trim())) {
    return undefined;
  }
  return Number(value.trim());
}
