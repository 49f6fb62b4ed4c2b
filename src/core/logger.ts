import { pino, type Logger, type LoggerOptions } from 'pino';

/**
 * Personal fields that must never reach a log line, at any depth we bind.
 * Names follow the platform's data: ID numbers, phone numbers, resume text.
 */
export const REDACT_PATHS: readonly string[] = [
  'idNumber', 'id_number', 'nationalId', 'phone', 'phoneNumber', 'mobile', 'resume', 'resumeText', 'fullName',
  '*.idNumber', '*.id_number', '*.nationalId', '*.phone', '*.phoneNumber', '*.mobile', '*.resume', '*.resumeText',
  '*.name', '*.fullName', 'token', '*.token', 'authorization', '*.authorization', 'req.headers.authorization',
];

export function createLogger(options: LoggerOptions = {}, destination?: pino.DestinationStream): Logger {
  const base: LoggerOptions = {
    level: process.env.LIVEMASK_LOG_LEVEL ?? 'info',
    redact: { paths: [...REDACT_PATHS], censor: '[redacted]' },
    ...options,
  };
  return destination ? pino(base, destination) : pino(base, pino.destination(2));
}

export type { Logger };
