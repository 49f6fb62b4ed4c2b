export { type RoomAssignment } from './assignment.js';
export { FleetClient, type EndRoomResult, type FleetClientOptions, type RoomStatus } from './fleet-client.js';
export { FleetError, type FleetErrorCode } from './fleet-error.js';
export { FleetKeys, ROOMS_QUEUE, roomJobId } from './fleet-keys.js';
export { registerFleetMetrics, type FleetGaugeSource } from './fleet-metrics.js';
export { FLEET_DEFAULTS, type FleetConnectionOptions, type FleetTiming, type RoomJobData, type RoomParams } from './fleet-options.js';
export { FleetWorker, type AssignedRoom, type FleetWorkerEvents, type FleetWorkerOptions, type ReleaseReason } from './fleet-worker.js';
