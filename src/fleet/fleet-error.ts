import { LivemaskError, type LivemaskErrorCode } from '../core/index.js';

export type FleetErrorCode = Extract<LivemaskErrorCode, 'REDIS_UNAVAILABLE' | 'CONFIG_INVALID' | 'BAD_REQUEST' | 'CLOSED'>;

/**
 * A fleet operation failed: Redis could not be reached in time
 * (`REDIS_UNAVAILABLE`), an option or a room id is invalid (`CONFIG_INVALID`,
 * `BAD_REQUEST`), or the fleet object is closed (`CLOSED`). Messages never
 * hold the Redis URL, which may carry a password.
 */
export class FleetError extends LivemaskError {
  declare readonly code: FleetErrorCode;

  constructor(code: FleetErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'FleetError';
  }
}
