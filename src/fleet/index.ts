export { decodeAssignment, type RoomAssignment } from './assignment.js';
export { FleetClient, type EndRoomResult, type FleetClientOptions, type RoomStatus } from './fleet-client.js';
export { FleetError, type FleetErrorCode } from './fleet-error.js';
export { FleetKeys, ROOM_STATE_TTL_MS, ROOMS_QUEUE, roomJobId } from './fleet-keys.js';
export { connectRedis } from './redis-connect.js';
export { registerFleetMetrics, type FleetGaugeSource } from './fleet-metrics.js';
export { FLEET_DEFAULTS, lockRenewMs, resolveConnection, RoomIdSchema, RoomParamsSchema, type FleetConnectionOptions, type FleetTiming, type RoomJobData, type RoomParams } from './fleet-options.js';
export { FleetWorker, type AssignedRoom, type FleetWorkerEvents, type FleetWorkerOptions, type PreviousHolder, type ReleaseReason } from './fleet-worker.js';
export {
  CommandReplySchema,
  decodeMessage,
  MAX_POSTED_BYTES,
  ParticipantIdSchema,
  PostedEventSchema,
  RoomBroadcastSchema,
  type CommandFailureCode,
  type CommandReply,
  type PostedEvent,
  type RelayedEvent,
  type RoomBroadcast,
  type RoomCommand,
} from './room-channel.js';
export { RoomRelay, type RoomRelayOptions, type RoomRelayTarget } from './room-relay.js';
