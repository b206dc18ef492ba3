/**
 * A proxy in front of the local endpoint that breaks the answers it is told to, the way networks
 * and other implementations break them: the connection reset before the request reaches the
 * endpoint (nothing happened) or after it answered (it acted, the answer is lost), the answer cut
 * short after the endpoint acted, or a proxy's HTML page instead of the endpoint's answer. Every
 * other request passes unchanged. Not a test file itself.
 */
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import { listenLocally, readBody } from '../support/http.js';

export type Breakage = 'reset-before' | 'reset-after' | 'truncated' | 'html';

export const BREAKAGES: readonly Breakage[] = ['reset-before', 'reset-after', 'truncated', 'html'];

/** Whether the endpoint saw (and acted on) the request the proxy broke. */
export function endpointActed(breakage: Breakage): boolean {
  return breakage === 'reset-after' || breakage === 'truncated';
}

export interface FaultProxy {
  url: string;
  /** Breaks the next `count` requests of `operation` (the X-Amz-Target's operation). */
  breakNext(operation: string, breakage: Breakage, count?: number): void;
  /** How many requests were broken so far. */
  broken(): number;
  close(): Promise<void>;
}

export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const upstream = new URL(target);
  const plans = new Map<string, { breakage: Breakage; remaining: number }>();
  let brokenCount = 0;

  const forward = (req: IncomingMessage, body: string): Promise<{ status: number; headers: Record<string, string>; body: string }> =>
    new Promise((resolve, reject) => {
      const headers = { ...req.headers, host: upstream.host };
      const out = request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers, agent: false }, (up) => {
        readBody(up).then(
          (text) => {
            const kept: Record<string, string> = {};
            for (const name of ['content-type', 'x-amzn-errortype', 'x-amzn-requestid']) {
              const value = up.headers[name];
              if (typeof value === 'string') kept[name] = value;
            }
            resolve({ status: up.statusCode ?? 500, headers: kept, body: text });
          },
          reject,
        );
      });
      out.on('error', reject);
      out.end(body);
    });

  const answer = (res: ServerResponse, status: number, headers: Record<string, string>, body: string) => {
    res.writeHead(status, { ...headers, 'content-length': String(Buffer.byteLength(body)) });
    res.end(body);
  };

  const server = createServer((req, res) => {
    void (async () => {
      const body = await readBody(req);
      const operation = String(req.headers['x-amz-target'] ?? '').split('.').pop() ?? '';
      const plan = plans.get(operation);
      const breakage = plan && plan.remaining > 0 ? plan.breakage : undefined;
      if (plan && breakage) {
        plan.remaining--;
        brokenCount++;
      }
      if (breakage === 'reset-before') {
        req.socket.destroy();
        return;
      }
      if (breakage === 'html') {
        answer(res, 502, { 'content-type': 'text/html' }, '<html><body><h1>502 Bad Gateway</h1></body></html>');
        return;
      }
      const real = await forward(req, body);
      if (breakage === 'reset-after') {
        req.socket.destroy();
        return;
      }
      if (breakage === 'truncated') {
        answer(res, real.status, real.headers, real.body.slice(0, Math.max(1, Math.floor(real.body.length / 2))));
        return;
      }
      answer(res, real.status, real.headers, real.body);
    })().catch(() => req.socket.destroy());
  });
  const url = await listenLocally(server);
  return {
    url,
    breakNext(operation, breakage, count = 1) {
      plans.set(operation, { breakage, remaining: count });
    },
    broken: () => brokenCount,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
