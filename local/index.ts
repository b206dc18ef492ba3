/**
 * The local KMS + Secrets Manager (+ Resource Groups Tagging) endpoint, started in-process:
 *
 *   const endpoint = await startLocalEndpoint();          // free port on 127.0.0.1
 *   const kms = new KMSClient({ endpoint: endpoint.url, region: 'us-east-1', credentials });
 *   endpoint.clock.advance(24 * 3600);                     // expire import tokens
 *   await endpoint.close();
 *
 * See local/README.md for the control surface, persistence and what is emulated.
 */
import { createKmsService, type KmsServiceOptions } from './kms/index.js';
import { createClock, type EndpointClock } from './clock.js';
import { Controls, type EndpointControls, type QuotaPreset, type QuotaRule } from './controls.js';
import { createControlHandler } from './control-api.js';
import { loadState, StateWriter } from './persistence.js';
import { DEFAULT_MAX_BODY_BYTES } from './protocol.js';
import { createRequestListener, listen, type ServedService } from './server.js';
import { DEFAULT_REGION, type EmulatedService, type TaggedResourceSource } from './service.js';
import { createSecretsManagerService } from './secretsmanager/index.js';
import { createTaggingService } from './tagging.js';
import { createAuthorizer, validatePrincipals, type IamEnforcementOptions } from './iam/authorizer.js';

export type { EndpointClock } from './clock.js';
export type { EndpointControls, InjectedErrorSpec, OperationCounter, QuotaPreset, QuotaRule } from './controls.js';
export { KMS_2023_QUOTAS, KMS_DEFAULT_QUOTAS, MAX_LATENCY_MS, QUOTA_PRESETS, SECRETS_MANAGER_DEFAULT_QUOTAS } from './controls.js';
export { MAX_CLOCK_OFFSET_MS } from './clock.js';
export type { IamEnforcementOptions, IamPrincipal, PolicyDocument } from './iam/authorizer.js';

/**
 * Wrapping key pairs kept generated ahead per wrapping key spec by an endpoint started here (the
 * `local` command, the drill, tests): an RSA_4096 pair takes 1 to 1.5 s of CPU, most of a local
 * recovery, so GetParametersForImport takes a pair generated in the background instead. A spec's
 * pool fills from its first use; `kms.wrappingKeyPoolSize: 0` generates every pair on demand.
 */
export const DEFAULT_WRAPPING_KEY_POOL_SIZE = 2;

export interface LocalEndpointOptions {
  /** TCP port on 127.0.0.1; 0 (default) picks a free one. */
  port?: number;
  /** Options of the KMS emulation (wrappingKeyPoolSize defaults to DEFAULT_WRAPPING_KEY_POOL_SIZE here). */
  kms?: KmsServiceOptions;
  /** State file: loaded on start, written after requests (debounced) and on close. */
  persistPath?: string;
  /** Where the endpoint's clock starts (ms since the epoch, within MAX_CLOCK_OFFSET_MS of real time); default: real time. */
  startTime?: number;
  /** Request quotas: off by default; 'kms-defaults' for KMS's current published rates, 'kms-2023' for the 2023 ones; or per operation. */
  quotas?: QuotaPreset | Record<string, QuotaRule>;
  /** Delay before handling: one value for every operation, or per operation (`kms:DescribeKey`); each 0..MAX_LATENCY_MS. */
  latencyMs?: number | Record<string, number>;
  /** Largest request body accepted (default 1 MiB). */
  maxBodyBytes?: number;
  /** Delay between a change and its write to persistPath (default 200 ms). */
  persistDebounceMs?: number;
  /** Called when writing the state file fails (default: a line on stderr). */
  onPersistError?: (err: Error) => void;
  /** Enforce identity policies: access key id → principal (see local/README.md, "IAM"). Off by default: any credentials are served. */
  iam?: IamEnforcementOptions;
}

export interface LocalEndpoint {
  /** `http://127.0.0.1:PORT`: pass as `endpoint` to SDK clients, `--endpoint-url` to the CLI. */
  readonly url: string;
  readonly port: number;
  readonly clock: EndpointClock;
  readonly controls: EndpointControls;
  /** The emulated services, by signing name (`kms`, `secretsmanager`, `tagging`), for in-process inspection. */
  readonly services: Readonly<Record<string, EmulatedService>>;
  /** With `iam`: replace the principals (e.g. roles rendered for keys created since the start); validated first. */
  readonly iam?: { setPrincipals(principals: IamEnforcementOptions['principals']): Promise<void> };
  /** Writes the state file now (no-op without persistPath). */
  save(): Promise<void>;
  /** Stops listening, drops open connections and writes the state file. */
  close(): Promise<void>;
}

export async function startLocalEndpoint(options: LocalEndpointOptions = {}): Promise<LocalEndpoint> {
  const port = options.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError(`Port must be an integer 0..65535, got ${String(port)}`);
  const clock = createClock(options.startTime);
  const controls = new Controls({
    ...(options.quotas !== undefined ? { quotas: options.quotas } : {}),
    ...(options.latencyMs !== undefined ? { latencyMs: options.latencyMs } : {}),
  });

  const kms = createKmsService({ wrappingKeyPoolSize: DEFAULT_WRAPPING_KEY_POOL_SIZE, ...options.kms });
  const secretsManager = createSecretsManagerService({ kms });
  const taggedSources: TaggedResourceSource[] = [kms, secretsManager];
  const tagging = createTaggingService(() => taggedSources);
  const services: ServedService[] = [kms, secretsManager, tagging];
  const bySigningName = Object.fromEntries(services.map((s) => [s.signingName, s as EmulatedService]));

  let writer: StateWriter | undefined;
  if (options.persistPath) {
    const state = loadState(options.persistPath);
    if (state) {
      clock.setOffsetMs(state.clockOffsetMs);
      for (const service of services) {
        if (service.signingName in state.services) service.restore(state.services[service.signingName]);
      }
    }
    writer = new StateWriter(
      options.persistPath,
      () => ({ clockOffsetMs: clock.offsetMs(), services: Object.fromEntries(services.map((s) => [s.signingName, s.snapshot()])) }),
      options.persistDebounceMs ?? 200,
      options.onPersistError ?? ((err) => process.stderr.write(`kms-reimport local: ${err.message}\n`)),
    );
    clock.onChange = () => writer?.markDirty();
  }
  const save = async (): Promise<void> => {
    await writer?.flush();
  };

  if (options.iam) await validatePrincipals(options.iam.principals);
  const authorizer = options.iam ? createAuthorizer(options.iam) : undefined;
  const listener = createRequestListener({
    ...(authorizer ? { authorizer } : {}),
    services,
    controls,
    clock,
    maxBodyBytes: options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
    controlHandler: createControlHandler({
      clock,
      controls,
      services: () => Object.fromEntries(services.map((s) => [s.signingName, s.operations()])),
      ...(writer ? { save } : {}),
    }),
    afterHandled: () => writer?.markDirty(),
  });
  const running = await listen(listener, port);

  let closed: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${running.port}`,
    port: running.port,
    clock,
    controls,
    services: bySigningName,
    ...(authorizer ? { iam: { setPrincipals: (principals: IamEnforcementOptions['principals']) => authorizer.setPrincipals(principals) } } : {}),
    save,
    close() {
      closed ??= (async () => {
        await running.close();
        await kms.close();
        await save();
      })();
      return closed;
    },
  };
}

/** Environment variables that point the AWS CLI and SDKs at this endpoint (for the CLI to print). */
export function describeEnvironment(endpoint: Pick<LocalEndpoint, 'url'>, region: string = DEFAULT_REGION): Record<string, string> {
  return {
    AWS_ENDPOINT_URL: endpoint.url,
    AWS_REGION: region,
    AWS_DEFAULT_REGION: region,
    AWS_ACCESS_KEY_ID: 'AKIDLOCALENDPOINT',
    AWS_SECRET_ACCESS_KEY: 'local-endpoint-accepts-any-secret',
  };
}
