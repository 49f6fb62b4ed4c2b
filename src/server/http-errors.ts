import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { AuthError, LivemaskError } from '../core/index.js';

/**
 * Every error response is JSON `{ error: CODE, message }`. Messages of 4xx
 * answers say what was wrong with the request and never hold a token, a
 * claim or a body; 5xx answers say only "internal error".
 */

export type ErrorCode =
  | 'UNAUTHORIZED'
  | 'FORBIDDEN'
  | 'BAD_REQUEST'
  | 'NOT_FOUND'
  | 'PAYLOAD_TOO_LARGE'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'UNAVAILABLE'
  | 'NOT_INTACT'
  | 'NOT_HELD'
  | 'ROOM_NOT_HERE'
  | 'INTERNAL';

export interface ErrorBody {
  error: ErrorCode;
  message: string;
}

export function sendError(reply: FastifyReply, status: number, error: ErrorCode, message: string): FastifyReply {
  return reply.code(status).header('cache-control', 'no-store').send({ error, message } satisfies ErrorBody);
}

/** Fastify's own request errors (body parsing, limits), by code. */
const FASTIFY_ERRORS: Record<string, { status: number; error: ErrorCode; message: string }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, error: 'PAYLOAD_TOO_LARGE', message: 'request body is too large' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { status: 415, error: 'UNSUPPORTED_MEDIA_TYPE', message: 'unsupported content type' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { status: 400, error: 'BAD_REQUEST', message: 'content-length does not match the body' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, error: 'BAD_REQUEST', message: 'body is empty; expected JSON' },
  FST_ERR_CTP_INVALID_JSON_BODY: { status: 400, error: 'BAD_REQUEST', message: 'body is not valid JSON' },
};

/** Errors of the evidence operations that are the request's fault or the evidence's state, not ours. */
const EVIDENCE_ERRORS: Partial<Record<string, { status: number; error: ErrorCode }>> = {
  EVIDENCE_NOT_FOUND: { status: 404, error: 'NOT_FOUND' },
  EVIDENCE_BAD_ID: { status: 400, error: 'BAD_REQUEST' },
  BAD_USAGE: { status: 400, error: 'BAD_REQUEST' },
  EVIDENCE_INVALID: { status: 409, error: 'NOT_INTACT' },
  EVIDENCE_NOT_HELD: { status: 409, error: 'NOT_HELD' },
};

/** The error handler of the app: maps an error to its status and JSON body, and logs it without secrets. */
export function handleError(err: FastifyError | Error, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (err instanceof AuthError) {
    request.log.info({ error: err.code }, `refused: ${err.message}`);
    if (err.status === 401) {
      reply.header('www-authenticate', 'Bearer realm="livemask"');
    }
    return sendError(reply, err.status, err.code, err.message);
  }
  if (err instanceof LivemaskError && err.code === 'BAD_REQUEST') {
    request.log.info({ error: err.code }, `bad request: ${err.message}`);
    return sendError(reply, 400, 'BAD_REQUEST', err.message);
  }
  const evidence = err instanceof LivemaskError ? EVIDENCE_ERRORS[err.code] : undefined;
  if (evidence) {
    request.log.info({ error: (err as LivemaskError).code }, err.message);
    return sendError(reply, evidence.status, evidence.error, err.message);
  }
  const code = 'code' in err && typeof err.code === 'string' ? err.code : undefined;
  const known = code !== undefined ? FASTIFY_ERRORS[code] : undefined;
  if (known) {
    request.log.info({ error: known.error }, known.message);
    return sendError(reply, known.status, known.error, known.message);
  }
  const status = 'statusCode' in err && typeof err.statusCode === 'number' ? err.statusCode : 500;
  if (status >= 400 && status < 500) {
    request.log.info({ error: 'BAD_REQUEST', fastifyCode: code }, 'bad request');
    return sendError(reply, status, 'BAD_REQUEST', 'bad request');
  }
  request.log.error({ err }, 'request failed');
  return sendError(reply, 500, 'INTERNAL', 'internal error');
}

export function handleNotFound(_request: FastifyRequest, reply: FastifyReply): FastifyReply {
  return sendError(reply, 404, 'NOT_FOUND', 'no such route');
}
