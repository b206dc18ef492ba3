/**
 * AWS clients for lib/, configured by the standard SDK chain: region (AWS_REGION, profile),
 * credentials (env, profile, SSO, container/instance roles) and endpoints (AWS_ENDPOINT_URL,
 * AWS_ENDPOINT_URL_KMS, AWS_ENDPOINT_URL_SECRETS_MANAGER, profile `endpoint_url`). An explicit
 * `endpointUrl` overrides them (for `--endpoint-url` and the local endpoint).
 *
 * Retries: the SDK's own retry is OFF by default (`maxAttempts: 1`) because every AWS call in
 * lib/ goes through withRetry (lib/retry.ts) with the configured attempts and full jitter; having
 * both would multiply attempts. Pass `sdkMaxAttempts` if you use these clients outside lib/.
 */
import { KMSClient, type KMSClientConfig } from '@aws-sdk/client-kms';
import { ResourceGroupsTaggingAPIClient } from '@aws-sdk/client-resource-groups-tagging-api';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';

export interface ClientOptions {
  region?: string;
  /** A named profile of the shared config and credentials files (`--profile`, like AWS_PROFILE). */
  profile?: string;
  endpointUrl?: string;
  credentials?: KMSClientConfig['credentials'];
  /** SDK-level attempts per call (default 1: lib/retry.ts does the retrying). */
  sdkMaxAttempts?: number;
  /**
   * How long one request and its answer may take, in ms, before it fails with TimeoutError
   * (retried by lib/retry.ts like any transient error). Default 20 s: KMS answers in well under a
   * second, and without a limit a stalled connection would hold a task until its Lambda timeout.
   */
  requestTimeoutMs?: number;
}

/** Default per-request limit: a stalled call fails and is retried instead of waiting for the Lambda timeout. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 20_000;
/** Default limit on opening a connection. */
export const CONNECTION_TIMEOUT_MS = 5_000;

export interface AwsClients {
  kms: KMSClient;
  secrets: SecretsManagerClient;
}

function sharedConfig(opts: ClientOptions) {
  return {
    ...(opts.region ? { region: opts.region } : {}),
    ...(opts.profile ? { profile: opts.profile } : {}),
    ...(opts.endpointUrl ? { endpoint: opts.endpointUrl } : {}),
    ...(opts.credentials ? { credentials: opts.credentials } : {}),
    maxAttempts: opts.sdkMaxAttempts ?? 1,
    // The SDK only warns when requestTimeout passes unless throwOnRequestTimeout is set.
    requestHandler: {
      connectionTimeout: CONNECTION_TIMEOUT_MS,
      requestTimeout: opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
      throwOnRequestTimeout: true,
    },
  };
}

export function createClients(opts: ClientOptions = {}): AwsClients {
  const shared = sharedConfig(opts);
  return { kms: new KMSClient(shared), secrets: new SecretsManagerClient(shared) };
}

/** The Resource Groups Tagging API client the sweep lists managed keys with, configured like the others. */
export function createTaggingClient(opts: ClientOptions = {}): ResourceGroupsTaggingAPIClient {
  return new ResourceGroupsTaggingAPIClient(sharedConfig(opts));
}
