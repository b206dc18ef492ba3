/**
 * A stand-in for the container credential endpoint that Lambda (SnapStart), ECS and EKS give a
 * process in AWS_CONTAINER_CREDENTIALS_FULL_URI: a real HTTP server on 127.0.0.1 answering fresh
 * credentials (`ASIACONTAINER<n>` / `container-secret-<n>` / `container-token-<n>` for the nth
 * request) and recording each request's headers.
 */
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { listenLocally } from './http.js';

export interface ContainerCredentialEndpoint {
  /** The value for AWS_CONTAINER_CREDENTIALS_FULL_URI. */
  url: string;
  requests: IncomingHttpHeaders[];
  /** Credentials answered from now on expire this many ms after they are handed out (default an hour). */
  expireIn(ms: number): void;
  /** What the nth answer (1-based) held. */
  credentialsOf(n: number): { accessKeyId: string; secretAccessKey: string; sessionToken: string };
  close(): Promise<void>;
}

export async function startContainerCredentialEndpoint(): Promise<ContainerCredentialEndpoint> {
  const requests: IncomingHttpHeaders[] = [];
  let expiresInMs = 3_600_000;
  const credentialsOf = (n: number) => ({ accessKeyId: `ASIACONTAINER${n}`, secretAccessKey: `container-secret-${n}`, sessionToken: `container-token-${n}` });
  const server = createServer((req, res) => {
    requests.push(req.headers);
    const { accessKeyId, secretAccessKey, sessionToken } = credentialsOf(requests.length);
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ AccessKeyId: accessKeyId, SecretAccessKey: secretAccessKey, Token: sessionToken, Expiration: new Date(Date.now() + expiresInMs).toISOString() }));
  });
  const url = await listenLocally(server);
  return {
    url: `${url}/v2/credentials`,
    requests,
    expireIn: (ms) => void (expiresInMs = ms),
    credentialsOf,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
