import { LivemaskError, type LivemaskErrorCode } from '../core/index.js';

export type ClientErrorCode = Extract<
  LivemaskErrorCode,
  'ROOM_START_TIMEOUT' | 'ROOM_FAILED' | 'ROOM_NOT_HELD' | 'COMMAND_TIMEOUT' | 'COMMAND_FAILED' | 'EVENTS_OVERFLOW' | 'BAD_REQUEST' | 'CLOSED'
>;

/**
 * A call of the client library failed:
 * - `ROOM_START_TIMEOUT`: no worker took the room in time (every slot was full);
 * - `ROOM_FAILED`: the room's job failed, or the room was ended while startRoom waited;
 * - `ROOM_NOT_HELD`: a command for a room that no worker holds;
 * - `COMMAND_TIMEOUT`: the holder got the command but did not answer in time;
 * - `COMMAND_FAILED`: the holder could not apply it (the message says why);
 * - `EVENTS_OVERFLOW`: an event iterator was read too slowly and its buffer filled;
 * - `BAD_REQUEST`: an argument is invalid (the message names it);
 * - `CLOSED`: the client is closed.
 * An AbortSignal that fires gives core's AbortedError (`ABORTED`); Redis out
 * of reach at connect gives FleetError `REDIS_UNAVAILABLE`.
 */
export class ClientError extends LivemaskError {
  declare readonly code: ClientErrorCode;

  constructor(code: ClientErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'ClientError';
  }
}
