/**
 * `livemask/client`: the client library of the fleet, for live-room servers
 * (see livemask-client.ts for the design).
 */
export { CLIENT_DEFAULTS } from './client-settings.js';
export {
  LivemaskClient,
  type CommandOptions,
  type EventsOptions,
  type LivemaskClientEvents,
  type LivemaskClientOptions,
  type MaskResult,
  type PostedEventResult,
  type RoomStart,
  type StartRoomOptions,
} from './livemask-client.js';
export { ClientError, type ClientErrorCode } from './client-error.js';
export { RoomEventStream, type ClientRoomEvent, type RoomMovedEvent } from './room-event-stream.js';
export { AbortedError, LivemaskError, type LivemaskErrorCode } from '../core/index.js';
export { FleetError, type EndRoomResult, type FleetErrorCode, type PostedEvent, type RoomParams } from '../fleet/index.js';
export type { RoomEvent, RoomEventType } from '../server/index.js';
