/**
 * The local endpoint's HTTP server: one port for every emulated service. It routes by the
 * `X-Amz-Target` prefix, guards the JSON shape, applies the controls, and turns every failure
 * into an error in the service's own shape; a request can never crash or hang the server.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ServiceError, type EmulatedService, type OperationContext } from './service.js';
import { BodyTooLargeError, parseJsonObject, parseTarget, readBody, scopeFromAuthorization, sendError } from './protocol.js';
import { sendJson } from './protocol.js';
import type { Controls, QuotaRule } from './controls.js';
import type { EndpointClock } from './clock.js';
import type { Authorizer } from './iam/authorizer.js';

/** Exception names a service answers with for the server's own failures. */
export interface ErrorConventions {
  /** Operation the service does not implement. */
  unknownOperation: string;
  /** A bug or unexpected failure while handling (status 500). */
  internal: string;
  /** A request over a quota. */
  throttling: string;
}

/** A service may carry its own conventions; otherwise they are looked up by signing name. */
export type ServedService = EmulatedService & { readonly errorConventions?: Partial<ErrorConventions> };

const CONVENTIONS: Record<string, ErrorConventions> = {
  kms: { unknownOperation: 'UnsupportedOperationException', internal: 'KMSInternalException', throttling: 'ThrottlingException' },
  secretsmanager: { unknownOperation: 'UnknownOperationException', internal: 'InternalServiceError', throttling: 'ThrottlingException' },
  tagging: { unknownOperation: 'UnknownOperationException', internal: 'InternalServiceException', throttling: 'ThrottledException' },
};
const GENERIC: ErrorConventions = { unknownOperation: 'UnknownOperationException', internal: 'InternalFailure', throttling: 'ThrottlingException' };

export function conventionsOf(service: ServedService): ErrorConventions {
  return { ...GENERIC, ...CONVENTIONS[service.signingName], ...service.errorConventions };
}

/** Handles requests under `/_local/`: returns the status and JSON body to answer. */
export type ControlHandler = (method: string, path: string, body: Record<string, unknown>) => Promise<{ status: number; body: unknown }>;

export interface ServerOptions {
  services: ServedService[];
  controls: Controls;
  clock: EndpointClock;
  controlHandler: ControlHandler;
  maxBodyBytes: number;
  /** Identity policies to enforce (local/iam/); none: every request is served. */
  authorizer?: Authorizer;
  /** Called after every request a service handled (successfully or not): state may have changed. */
  afterHandled?: (service: ServedService, operation: string) => void;
}

export const CONTROL_PREFIX = '/_local';

/** Names a request's Host header may use, each with the port the server listens on. */
const LOOPBACK_HOSTS = ['127.0.0.1', 'localhost', '[::1]'];

/**
 * True when `host` (the Host header) names this endpoint: `127.0.0.1:PORT`, `localhost:PORT` or
 * `[::1]:PORT` (case-insensitive; without `:PORT` only when PORT is 80). Anything else is a page
 * that reached 127.0.0.1 through a name of its own (DNS rebinding) or a proxy, and is refused.
 */
export function isLoopbackHost(host: string | undefined, port: number | undefined): boolean {
  if (typeof host !== 'string' || port === undefined) return false;
  const value = host.trim().toLowerCase();
  return LOOPBACK_HOSTS.some((name) => value === `${name}:${port}` || (port === 80 && value === name));
}

/** True when a Content-Type header is JSON (`application/json`, parameters allowed). */
export function isJsonContentType(header: string | undefined): boolean {
  return typeof header === 'string' && header.split(';')[0]?.trim().toLowerCase() === 'application/json';
}

interface Refusal {
  status: number;
  type: string;
  message: string;
}

/**
 * Why a request is refused before anything reads its body, if it is: a Host that is not this
 * endpoint, any Origin header (browsers send it; the SDK, the CLI, curl and Node's fetch do not),
 * or a control request with a body that is not `application/json` (which a page cannot send
 * cross-site without a CORS preflight, and the endpoint answers no preflight).
 */
function refusal(req: IncomingMessage, method: string, isControl: boolean): Refusal | undefined {
  const port = req.socket.localPort;
  const host = req.headers.host;
  if (!isLoopbackHost(host, port)) {
    const shown = typeof host === 'string' ? JSON.stringify(host.slice(0, 100)) : 'none';
    return {
      status: 403,
      type: 'AccessDeniedException',
      message: `Host header ${shown} does not name this local endpoint: only 127.0.0.1:${port}, localhost:${port} or [::1]:${port} are served (a guard against DNS rebinding); use http://127.0.0.1:${port} as the endpoint URL`,
    };
  }
  if (req.headers.origin !== undefined) {
    return {
      status: 403,
      type: 'AccessDeniedException',
      message: 'Requests with an Origin header (from a web page) are refused: the local endpoint holds key material and secrets; call it from the AWS SDK, the AWS CLI, curl or Node without an Origin header',
    };
  }
  if (isControl && method !== 'GET' && method !== 'HEAD' && (method === 'POST' || req.headers['content-type'] !== undefined)) {
    if (!isJsonContentType(req.headers['content-type'])) {
      return {
        status: 415,
        type: 'UnsupportedMediaType',
        message: `Control requests with a body must be sent as Content-Type: application/json (got ${req.headers['content-type'] === undefined ? 'none' : JSON.stringify(req.headers['content-type'].slice(0, 100))}); e.g. curl -H 'Content-Type: application/json' -d '{...}'`,
      };
    }
  }
  return undefined;
}

export function createRequestListener(options: ServerOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const byPrefix = new Map(options.services.map((s) => [s.targetPrefix, s]));
  const served = options.services.map((s) => s.targetPrefix).join(', ');

  async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const method = req.method ?? 'GET';
    const isControl = path === CONTROL_PREFIX || path.startsWith(`${CONTROL_PREFIX}/`);

    const refused = refusal(req, method, isControl);
    if (refused) {
      req.resume();
      if (isControl) sendJson(res, refused.status, { __type: refused.type, message: refused.message }, { 'Content-Type': 'application/json' });
      else sendError(res, new ServiceError(refused.type, refused.message, refused.status));
      return;
    }

    if (isControl) {
      let body: Record<string, unknown> = {};
      if (method !== 'GET' && method !== 'HEAD') body = parseJsonObject(await readBody(req, options.maxBodyBytes), 'control');
      const answer = await options.controlHandler(method, path, body);
      sendJson(res, answer.status, answer.body, { 'Content-Type': 'application/json' });
      return;
    }
    if (path !== '/') {
      throw new ServiceError(
        'UnknownOperationException',
        `No such path ${JSON.stringify(path)}: AWS requests go to POST / with an X-Amz-Target header; controls live under ${CONTROL_PREFIX}/`,
        404,
      );
    }
    if (method !== 'POST') {
      throw new ServiceError(
        'UnknownOperationException',
        `Method ${method} is not supported: AWS JSON requests are POST / with an X-Amz-Target header (serving ${served}); controls live under ${CONTROL_PREFIX}/`,
        405,
      );
    }
    const raw = await readBody(req, options.maxBodyBytes);
    const target = parseTarget(req.headers['x-amz-target']);
    if (!target) {
      throw new ServiceError(
        'UnknownOperationException',
        `Missing or malformed X-Amz-Target header (expected "<Prefix>.<Operation>"; serving ${served})`,
      );
    }
    const service = byPrefix.get(target.prefix);
    if (!service) {
      throw new ServiceError(
        'UnknownOperationException',
        `Unknown service ${JSON.stringify(target.prefix)} in X-Amz-Target: the local endpoint serves ${served}`,
      );
    }
    const conventions = conventionsOf(service);
    const { operation } = target;
    if (!service.operations().includes(operation)) {
      throw new ServiceError(conventions.unknownOperation, `Operation ${operation} is not implemented by the local endpoint (${service.signingName})`);
    }
    const input = parseJsonObject(raw, service.signingName);
    const scope = scopeFromAuthorization(req.headers.authorization);
    // With IAM enforced, the access key names a principal, and the principal its account.
    const principal = options.authorizer?.principalOf(req.headers.authorization, service.signingName);
    const ctx: OperationContext = { scope: { account: principal?.account ?? scope.account, region: scope.region }, clock: options.clock };

    const admission = await options.controls.admit(service.signingName, operation, ctx.scope, (op: string, rule: QuotaRule) =>
      new ServiceError(
        conventions.throttling,
        `Rate exceeded for ${service.signingName}:${op} (local endpoint quota: ${rule.rate} requests per second per account and Region${rule.shared ? `, shared by ${rule.shared}` : ''}); retry with backoff`,
      ),
    );
    if (admission.error) {
      sendError(res, admission.error);
      return;
    }
    let result: unknown;
    try {
      if (principal) await options.authorizer?.authorize(principal, service, operation, input, ctx);
      result = await service.handle(operation, input, ctx);
    } catch (err) {
      options.controls.recordError(service.signingName, operation);
      throw err instanceof ServiceError
        ? err
        : new ServiceError(
            conventions.internal,
            `The local endpoint failed while handling ${service.signingName}:${operation} (${describeInternal(err)}); this is a bug in the endpoint, the request may be retried`,
            500,
          );
    } finally {
      options.afterHandled?.(service, operation);
    }
    sendJson(res, 200, result ?? {});
  }

  return (req, res) => {
    req.on('error', () => {});
    res.on('error', () => {});
    serve(req, res).catch((err: unknown) => {
      if (err instanceof BodyTooLargeError) {
        sendError(res, new ServiceError('RequestEntityTooLargeException', `Request body exceeds the local endpoint's limit of ${err.limit} bytes; nothing was done`, 413), {
          Connection: 'close',
        });
        return;
      }
      if (err instanceof ServiceError) {
        sendError(res, err);
        return;
      }
      if (err instanceof RangeError && (req.url ?? '').startsWith(CONTROL_PREFIX)) {
        sendError(res, new ServiceError('ValidationException', err.message, 400));
        return;
      }
      if (res.destroyed || req.destroyed) return;
      sendError(
        res,
        new ServiceError('InternalFailure', `The local endpoint failed on this request (${describeInternal(err)})`, 500),
      );
    });
  };
}

/**
 * An unexpected error, for a response: its name only. Its message could quote request data (a
 * body holding key material, say), so it goes to stderr, and only with KMS_REIMPORT_LOCAL_DEBUG set.
 */
function describeInternal(err: unknown): string {
  if (process.env.KMS_REIMPORT_LOCAL_DEBUG) process.stderr.write(`kms-reimport local: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  const name = err instanceof Error ? err.name : typeof err;
  return `${name}; set KMS_REIMPORT_LOCAL_DEBUG=1 to print the details on the endpoint's stderr`;
}

export interface RunningServer {
  server: Server;
  port: number;
  close(): Promise<void>;
}

/** Starts listening on 127.0.0.1 (only); port 0 picks a free port. */
export async function listen(listener: (req: IncomingMessage, res: ServerResponse) => void, port: number): Promise<RunningServer> {
  const server = createServer(listener);
  // Slow or stalled clients: give up on them instead of holding a socket forever.
  server.headersTimeout = 20_000;
  server.requestTimeout = 60_000;
  // Longer than any client's idle pool timeout, so a reused keep-alive socket is never closed
  // under a request on its way in (the SDK would see ECONNRESET); close() drops them all anyway.
  server.keepAliveTimeout = 65_000;
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    else socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  return {
    server,
    port: address.port,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
