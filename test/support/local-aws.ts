/**
 * Integration-test harness: the project's local endpoint on a free loopback port, real SDK
 * clients over HTTP, and onboarding of managed EXTERNAL keys through lib's own escrow-then-import.
 */
import { CreateKeyCommand, type KeySpec, type KeyUsageType, type Tag } from '@aws-sdk/client-kms';
import { startLocalEndpoint, type LocalEndpoint, type LocalEndpointOptions } from '../../local/index.js';
import { startLocalEndpointInWorker, type WorkerEndpoint, type WorkerEndpointOptions } from '../../local/worker.js';
import { GetSecretValueCommand, ListSecretsCommand } from '@aws-sdk/client-secrets-manager';
import { createClients, type AwsClients } from '../../lib/aws/clients.js';
import { recoverKey, type RecoverLogger } from '../../lib/recover.js';
import type { Outcome, RequestedAction } from '../../lib/types.js';
import { DEFAULT_CONFIG, type ReimportConfig } from '../../lib/config.js';
import { generateKeyMaterial } from '../../lib/material/generate.js';
import { escrowAndImport } from '../../lib/material/onboard.js';

export const REGION = 'us-east-1';

export interface LocalAws extends AwsClients {
  endpoint: LocalEndpoint;
  config: ReimportConfig;
  /** The endpoint's clock as a Date: pass as `now` to lib so ValidTo follows the moved clock. */
  now: () => Date;
  /** Calls the endpoint answered per operation since the last reset, e.g. calls('ImportKeyMaterial'). */
  calls: (operation: string) => number;
  /** Records every engine log line, for the leak check. */
  logger: RecoverLogger;
  logLines: string[];
  outcomes: Outcome[];
  /** recoverKey with this harness's clients, logger and endpoint clock; the outcome is recorded. */
  recover: (keyRef: string, action?: RequestedAction, config?: ReimportConfig) => Promise<Outcome>;
  /** Every material in escrow (all versions' current values) is absent from logs and outcomes. */
  assertNoLeaks: () => Promise<void>;
  close: () => Promise<void>;
  /** For a suite's after(): the leak check over everything the suite did, then close (always). */
  closeAfterLeakCheck: () => Promise<void>;
}

export async function startLocalAws(options: LocalEndpointOptions = {}, config: Partial<ReimportConfig> = {}): Promise<LocalAws> {
  return harnessOver(await startLocalEndpoint({ port: 0, ...options }), config);
}

/**
 * The same harness over an endpoint in its own worker thread (local/worker.ts): the client's
 * time in this process is then the SDK's and the engine's only, as against a real KMS (the
 * benchmarks). `endpoint.controls` and `endpoint.clock` work as in process; `endpoint.services`
 * does not (inspect through the APIs).
 */
export async function startLocalAwsInWorker(options: WorkerEndpointOptions = {}, config: Partial<ReimportConfig> = {}): Promise<LocalAws & { endpoint: WorkerEndpoint }> {
  return harnessOver(await startLocalEndpointInWorker({ port: 0, ...options }), config);
}

async function harnessOver<E extends LocalEndpoint>(endpoint: E, config: Partial<ReimportConfig>): Promise<LocalAws & { endpoint: E }> {
  const clients = createClients({
    endpointUrl: endpoint.url,
    region: REGION,
    credentials: { accessKeyId: 'AKIDINTEGRATION', secretAccessKey: 'integration' },
  });
  const logLines: string[] = [];
  const outcomes: Outcome[] = [];
  const line = (level: string) => (message: string, extra?: object) => void logLines.push(`${level} ${message} ${JSON.stringify(extra ?? {})}`);
  const logger: RecoverLogger = { info: line('INFO'), warn: line('WARN'), error: line('ERROR') };
  // No GetParametersForImport pacing by default (quotas are off unless a test turns them on).
  const fullConfig: ReimportConfig = { ...DEFAULT_CONFIG, baseDelayMs: 1, parametersIntervalMs: 0, ...config };
  const now = () => new Date(endpoint.clock.now());
  const assertNoLeaks = async () => {
    const materials = await escrowedMaterials(clients);
    if (materials.length === 0) throw new Error('no escrowed material to look for: the leak check would prove nothing');
    assertNoMaterial(logLines.join('\n'), materials, 'engine log lines');
    assertNoMaterial(JSON.stringify(outcomes), materials, 'outcomes');
  };
  const close = async () => {
    clients.kms.destroy();
    clients.secrets.destroy();
    await endpoint.close();
  };
  return {
    ...clients,
    endpoint,
    config: fullConfig,
    now,
    logger,
    logLines,
    outcomes,
    recover: async (keyRef, action = 'auto', runConfig = fullConfig) => {
      const outcome = await recoverKey({ ...clients, logger }, keyRef, { action, config: runConfig, now });
      outcomes.push(outcome);
      return outcome;
    },
    assertNoLeaks,
    calls: (operation) => {
      const counters = endpoint.controls.getCounters();
      return counters[`kms:${operation}`]?.calls ?? counters[`secretsmanager:${operation}`]?.calls ?? 0;
    },
    close,
    closeAfterLeakCheck: async () => {
      try {
        await assertNoLeaks();
      } finally {
        await close();
      }
    },
  };
}

export function keyUsageFor(keySpec: string): KeyUsageType {
  if (keySpec === 'SYMMETRIC_DEFAULT') return 'ENCRYPT_DECRYPT';
  if (keySpec.startsWith('HMAC_')) return 'GENERATE_VERIFY_MAC';
  return 'SIGN_VERIFY';
}

export interface OnboardedKey {
  keyId: string;
  arn: string;
  /** A copy of the material, kept by the test to look for leaks and to make wrong material. */
  material: Buffer;
}

export interface OnboardOptions {
  keyUsage?: KeyUsageType;
  /** Seconds until the first material expires (default one hour); null for DOES_NOT_EXPIRE. */
  lifetimeSeconds?: number | null;
  managed?: boolean;
  tags?: Tag[];
  wrapping?: { wrappingAlgorithm: string; wrappingKeySpec: string };
  /** Create the key without importing or escrowing anything. */
  bare?: boolean;
}

/** Creates an EXTERNAL key (managed by default), escrows fresh material and imports it. */
/** What onboarding needs of a harness. */
export type OnboardTarget = Pick<LocalAws, 'kms' | 'secrets' | 'config' | 'endpoint'>;

export async function onboardKey(aws: OnboardTarget, keySpec: string, options: OnboardOptions = {}): Promise<OnboardedKey> {
  const tags: Tag[] = [...(options.tags ?? [])];
  if (options.managed !== false) tags.push({ TagKey: aws.config.managedTagKey, TagValue: aws.config.managedTagValue });
  const created = await aws.kms.send(
    new CreateKeyCommand({
      Origin: 'EXTERNAL',
      KeySpec: keySpec as KeySpec,
      KeyUsage: options.keyUsage ?? keyUsageFor(keySpec),
      Tags: tags,
    }),
  );
  const keyId = created.KeyMetadata!.KeyId!;
  const arn = created.KeyMetadata!.Arn!;
  const material = await generateKeyMaterial(keySpec);
  if (options.bare) return { keyId, arn, material };
  const lifetime = options.lifetimeSeconds === undefined ? 3600 : options.lifetimeSeconds;
  const working = Buffer.from(material);
  try {
    await escrowAndImport(aws, {
      keyId,
      keySpec,
      material: working,
      config: aws.config,
      ...(lifetime === null
        ? { expirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE' as const }
        : { expirationModel: 'KEY_MATERIAL_EXPIRES' as const, validTo: new Date(aws.endpoint.clock.now() + lifetime * 1000) }),
      ...(options.wrapping ? { wrapping: options.wrapping } : {}),
    });
  } finally {
    working.fill(0);
  }
  return { keyId, arn, material };
}

/** The ways a test can look for material in text: raw bytes, hex and base64 (and base64url). */
export function materialForms(material: Buffer): string[] {
  const hex = material.toString('hex');
  return [material.toString('latin1'), hex, hex.toUpperCase(), material.toString('base64'), material.toString('base64url')];
}

export function assertNoMaterial(text: string, materials: Buffer[], where: string): void {
  for (const material of materials) {
    for (const form of materialForms(material)) {
      if (text.includes(form)) throw new Error(`key material found in ${where}`);
    }
  }
}

/** Every material held in the endpoint's escrow secrets (raw or kms-reimport/v1 JSON). */
export async function escrowedMaterials(clients: AwsClients): Promise<Buffer[]> {
  const out: Buffer[] = [];
  let token: string | undefined;
  do {
    const page = await clients.secrets.send(new ListSecretsCommand({ ...(token ? { NextToken: token } : {}) }));
    for (const secret of page.SecretList ?? []) {
      const value = await clients.secrets.send(new GetSecretValueCommand({ SecretId: secret.ARN! }));
      if (value.SecretBinary) out.push(Buffer.from(value.SecretBinary));
      if (value.SecretString?.startsWith('{')) {
        const parsed = JSON.parse(value.SecretString) as { materials?: Array<{ material?: string }> };
        for (const m of parsed.materials ?? []) if (m.material) out.push(Buffer.from(m.material, 'base64'));
      }
    }
    token = page.NextToken;
  } while (token);
  return out;
}
