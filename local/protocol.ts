/**
 * The AWS JSON 1.1 wire protocol as the SDK v3 and the AWS CLI speak it: POST /, the operation in
 * `X-Amz-Target: <Prefix>.<Operation>`, a JSON object as the body; success is 200 with a JSON
 * body, an error is `{"__type": "<Type>", "message": "..."}` with the status code and an
 * `x-amzn-ErrorType` header. The caller's account and region come from the SigV4 credential scope.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import { isRegion } from './partitions.js';
import { DEFAULT_ACCOUNT, DEFAULT_REGION, ServiceError, type RequestScope } from './service.js';

export const JSON_CONTENT_TYPE = 'application/x-amz-json-1.1';
/** Largest request body the endpoint reads (KMS's own limit on a request is far below this). */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

const CREDENTIAL = /Credential=([^/,\s]+)\/(\d{8})\/([^/,\s]+)\/([^/,\s]+)\/aws4_request/;

export interface SignatureScope extends RequestScope {
  /** The signing name from the credential scope, when there is one (`kms`, `secretsmanager`, ...). */
  signingName?: string;
}

/**
 * Reads the caller's scope from `Authorization: AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/aws4_request, ...`.
 * The account is the access key id when it is exactly 12 digits, else DEFAULT_ACCOUNT; no
 * signature is verified (any credentials are accepted).
 */
export function scopeFromAuthorization(header: string | undefined): SignatureScope {
  const match = header ? CREDENTIAL.exec(header) : null;
  if (!match) return { account: DEFAULT_ACCOUNT, region: DEFAULT_REGION };
  const [, accessKeyId = '', , region = '', signingName = ''] = match;
  return {
    account: /^\d{12}$/.test(accessKeyId) ? accessKeyId : DEFAULT_ACCOUNT,
    region: isRegion(region) ? region : DEFAULT_REGION,
    signingName,
  };
}

/** Splits `TrentService.DescribeKey` into prefix and operation; undefined when malformed. */
export function parseTarget(header: string | string[] | undefined): { prefix: string; operation: string } | undefined {
  if (typeof header !== 'string') return undefined;
  const dot = header.lastIndexOf('.');
  if (dot <= 0 || dot === header.length - 1) return undefined;
  return { prefix: header.slice(0, dot), operation: header.slice(dot + 1) };
}

export class BodyTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`Request body is larger than ${limit} bytes`);
  }
}

/**
 * Reads the whole body, refusing (without buffering further) past `limit` bytes. On refusal the
 * rest of the upload is drained and discarded up to a cap, so the client can read the error
 * response instead of seeing a reset; beyond the cap the connection is destroyed.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      discard(req, limit);
      reject(new BodyTooLargeError(limit));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const onData = (chunk: Buffer): void => {
      if (done) return;
      size += chunk.length;
      if (size > limit) {
        done = true;
        chunks.length = 0;
        req.off('data', onData);
        discard(req, limit);
        reject(new BodyTooLargeError(limit));
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => {
      if (done) return;
      done = true;
      resolve(Buffer.concat(chunks, size));
    });
    req.once('error', (err) => {
      if (done) return;
      done = true;
      reject(err);
    });
    req.once('aborted', () => {
      if (done) return;
      done = true;
      reject(new Error('Client aborted the request'));
    });
  });
}

function discard(req: IncomingMessage, limit: number): void {
  let discarded = 0;
  const cap = limit * 8;
  req.on('data', (chunk: Buffer) => {
    discarded += chunk.length;
    if (discarded > cap) req.socket.destroy();
  });
  req.on('error', () => {});
  req.resume();
}

/**
 * Where JSON.parse gave up, as a byte offset into `text` (UTF-8), when the engine says so.
 * Only this number is ever reported: the engine's own message quotes the input around the
 * error, and a request body or the state file may carry key material or secret values.
 */
export function jsonErrorByteOffset(err: unknown, text: string): number | undefined {
  const match = err instanceof Error ? /\bat position (\d+)\b/.exec(err.message) : null;
  if (!match) return undefined;
  const position = Number(match[1]);
  return Number.isSafeInteger(position) && position <= text.length ? Buffer.byteLength(text.slice(0, position), 'utf8') : undefined;
}

/** Parses a request body into a JSON object; an empty body is `{}`. Throws ServiceError otherwise. */
export function parseJsonObject(body: Buffer, serviceName: string): Record<string, unknown> {
  const text = body.toString('utf8');
  if (text.trim() === '') return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    // Never the parser's message: it quotes the body, which may hold key material or a secret.
    const offset = jsonErrorByteOffset(err, text);
    throw new ServiceError(
      'SerializationException',
      `The request body is not valid JSON${offset === undefined ? '' : ` (error at byte ${offset})`}; ${serviceName} requests are a JSON object.`,
    );
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ServiceError(
      'SerializationException',
      `The request body must be a JSON object, got ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}.`,
    );
  }
  return value as Record<string, unknown>;
}

/** Writes a JSON response with the headers the SDK and the CLI expect. */
export function sendJson(res: ServerResponse, status: number, body: unknown, extraHeaders: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  const payload = Buffer.from(JSON.stringify(body ?? {}), 'utf8');
  res.writeHead(status, {
    'Content-Type': JSON_CONTENT_TYPE,
    'Content-Length': String(payload.length),
    'x-amzn-RequestId': randomUUID(),
    ...extraHeaders,
  });
  res.end(payload);
}

/** Writes an error in the awsJson1_1 shape. */
export function sendError(res: ServerResponse, error: ServiceError, extraHeaders: Record<string, string> = {}): void {
  sendJson(res, error.status, { __type: error.type, message: error.message }, { 'x-amzn-ErrorType': error.type, ...extraHeaders });
}
