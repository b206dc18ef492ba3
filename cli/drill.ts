/**
 * The recovery drill: a full rehearsal of the 3 a.m. incident against the in-process local
 * endpoint, no AWS account needed. It creates an EXTERNAL key, escrows fresh material, imports it
 * with a short ValidTo, uses the key, lets the material expire (by moving the endpoint's clock),
 * recovers through the same engine the Lambdas use, proves the old data is readable again, then
 * does the same after someone deletes the material by hand.
 */
import { randomBytes } from 'node:crypto';
import {
  CreateAliasCommand,
  CreateKeyCommand,
  DecryptCommand,
  DeleteImportedKeyMaterialCommand,
  DescribeKeyCommand,
  EncryptCommand,
  GenerateMacCommand,
  SignCommand,
  VerifyCommand,
  VerifyMacCommand,
  type KMSClient,
  type KeyUsageType,
  type KeySpec,
  type MacAlgorithmSpec,
  type SigningAlgorithmSpec,
} from '@aws-sdk/client-kms';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { startLocalEndpoint, type LocalEndpoint } from '../local/index.js';
import { createClients } from '../lib/aws/clients.js';
import { DEFAULT_CONFIG, type ReimportConfig } from '../lib/config.js';
import { generateKeyMaterial } from '../lib/material/generate.js';
import { escrowAndImport } from '../lib/material/onboard.js';
import { recoverKey } from '../lib/reimport.js';
import { summariseOutcome } from '../lib/outcome.js';
import type { Outcome } from '../lib/types.js';

export interface DrillOptions {
  keySpec?: string;
  /** Where each line goes (stdout by default). */
  print?: (line: string) => void;
  /** Use this endpoint instead of starting one (it is not closed). */
  endpoint?: LocalEndpoint;
  config?: Partial<ReimportConfig>;
}

export interface DrillStep {
  name: string;
  ok: boolean;
  ms: number;
  detail: string;
}

export interface DrillResult {
  ok: boolean;
  keyId?: string;
  steps: DrillStep[];
  outcomes: Outcome[];
}

const REGION = 'us-east-1';
const FIRST_LIFETIME_SECONDS = 3600;

/** What "the key works" means for each usage: something made before the outage, checked after. */
interface Probe {
  make(kms: KMSClient, keyId: string): Promise<Uint8Array>;
  check(kms: KMSClient, keyId: string, made: Uint8Array): Promise<boolean>;
  describe: string;
}

function probeFor(keySpec: string): { keyUsage: KeyUsageType; probe: Probe } {
  const message = Buffer.from('kms-reimport drill: data protected before the outage');
  if (keySpec === 'SYMMETRIC_DEFAULT') {
    return {
      keyUsage: 'ENCRYPT_DECRYPT',
      probe: {
        describe: 'decrypt the ciphertext made before the outage',
        make: async (kms, keyId) => (await kms.send(new EncryptCommand({ KeyId: keyId, Plaintext: message }))).CiphertextBlob!,
        check: async (kms, keyId, made) => {
          const out = await kms.send(new DecryptCommand({ KeyId: keyId, CiphertextBlob: made }));
          return Buffer.from(out.Plaintext ?? []).equals(message);
        },
      },
    };
  }
  if (keySpec.startsWith('HMAC_')) {
    const MacAlgorithm = `HMAC_SHA_${keySpec.slice(5)}` as MacAlgorithmSpec;
    return {
      keyUsage: 'GENERATE_VERIFY_MAC',
      probe: {
        describe: 'verify the MAC made before the outage',
        make: async (kms, keyId) => (await kms.send(new GenerateMacCommand({ KeyId: keyId, Message: message, MacAlgorithm }))).Mac!,
        check: async (kms, keyId, made) =>
          (await kms.send(new VerifyMacCommand({ KeyId: keyId, Message: message, MacAlgorithm, Mac: made }))).MacValid === true,
      },
    };
  }
  const SigningAlgorithm = (keySpec.startsWith('RSA_') ? 'RSASSA_PSS_SHA_256' : keySpec === 'ECC_NIST_P384' ? 'ECDSA_SHA_384' : keySpec === 'ECC_NIST_P521' ? 'ECDSA_SHA_512' : 'ECDSA_SHA_256') as SigningAlgorithmSpec;
  return {
    keyUsage: 'SIGN_VERIFY',
    probe: {
      describe: 'verify the signature made before the outage',
      make: async (kms, keyId) => (await kms.send(new SignCommand({ KeyId: keyId, Message: message, MessageType: 'RAW', SigningAlgorithm }))).Signature!,
      check: async (kms, keyId, made) =>
        (await kms.send(new VerifyCommand({ KeyId: keyId, Message: message, MessageType: 'RAW', SigningAlgorithm, Signature: made }))).SignatureValid === true,
    },
  };
}

export async function runDrill(options: DrillOptions = {}): Promise<DrillResult> {
  const print = options.print ?? ((line: string) => console.log(line));
  const keySpec = options.keySpec ?? 'SYMMETRIC_DEFAULT';
  const config: ReimportConfig = { ...DEFAULT_CONFIG, ...options.config };
  const result: DrillResult = { ok: false, steps: [], outcomes: [] };
  const total = 12;

  const step = async <T>(name: string, work: () => Promise<[T, string]>): Promise<T> => {
    const started = performance.now();
    print(`[${String(result.steps.length + 1).padStart(2)}/${total}] ${name} ...`);
    try {
      const [value, detail] = await work();
      const ms = Math.round(performance.now() - started);
      result.steps.push({ name, ok: true, ms, detail });
      print(`        ok (${ms} ms) ${detail}`);
      return value;
    } catch (error) {
      const ms = Math.round(performance.now() - started);
      const detail = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      result.steps.push({ name, ok: false, ms, detail });
      print(`        FAILED (${ms} ms) ${detail}`);
      throw error;
    }
  };

  const ownEndpoint = !options.endpoint;
  let endpoint = options.endpoint;
  let clients: { kms: KMSClient; secrets: SecretsManagerClient } | undefined;
  const { keyUsage, probe } = probeFor(keySpec);
  try {
    endpoint = await step('Start the local KMS + Secrets Manager endpoint', async () => {
      const started = endpoint ?? (await startLocalEndpoint({ port: 0 }));
      return [started, started.url];
    });
    const local = endpoint;
    clients = createClients({
      endpointUrl: local.url,
      region: REGION,
      credentials: { accessKeyId: 'AKIDLOCALDRILL', secretAccessKey: 'local-drill' },
    });
    const { kms } = clients;
    const now = () => new Date(local.clock.now());

    const alias = `alias/kms-reimport-drill-${randomBytes(3).toString('hex')}`;
    const keyId = await step(`Create an EXTERNAL ${keySpec} key tagged ${config.managedTagKey}=${config.managedTagValue}`, async () => {
      const created = await kms.send(
        new CreateKeyCommand({
          Origin: 'EXTERNAL',
          KeySpec: keySpec as KeySpec,
          KeyUsage: keyUsage,
          Description: 'kms-reimport drill key',
          Tags: [{ TagKey: config.managedTagKey, TagValue: config.managedTagValue }],
        }),
      );
      const id = created.KeyMetadata!.KeyId!;
      await kms.send(new CreateAliasCommand({ AliasName: alias, TargetKeyId: id }));
      return [id, `${id} (${alias}), state ${created.KeyMetadata!.KeyState}`];
    });
    result.keyId = keyId;

    const material = await generateKeyMaterial(keySpec);
    try {
      await step(`Escrow fresh material in Secrets Manager, then import it with a ValidTo ${FIRST_LIFETIME_SECONDS / 60} minutes ahead`, async () => {
        const onboarded = await escrowAndImport(clients!, {
          keyId,
          keySpec,
          material,
          config,
          expirationModel: 'KEY_MATERIAL_EXPIRES',
          validTo: new Date(local.clock.now() + FIRST_LIFETIME_SECONDS * 1000),
        });
        return [
          undefined,
          `escrow ${onboarded.secretArn}; ${onboarded.wrappingAlgorithm} / ${onboarded.wrappingKeySpec}; material ${onboarded.keyMaterialId ?? '(id not reported)'}, ValidTo ${onboarded.validTo}`,
        ];
      });
    } finally {
      material.fill(0);
    }

    const made = await step(`Use the key (${keyUsage})`, async () => {
      const out = await probe.make(kms, keyId);
      return [out, `${out.length} bytes made before the outage`];
    });

    await step('Let the material expire (move the endpoint clock past ValidTo)', async () => {
      local.clock.advance(FIRST_LIFETIME_SECONDS + 1);
      const state = (await kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata!.KeyState;
      if (state !== 'PendingImport') throw new Error(`expected the key to be PendingImport after expiry, it is ${state}`);
      return [undefined, `clock now ${now().toISOString()}, key ${state}`];
    });

    await step('Confirm the outage: the key refuses to work', async () => {
      try {
        await probe.check(kms, keyId, made);
      } catch (error) {
        return [undefined, `refused as expected: ${(error as Error).name}`];
      }
      throw new Error('the key still worked while PendingImport');
    });

    await step('Ask for a plan first (dry run)', async () => {
      const outcome = await recoverKey(clients!, alias, { action: 'plan', config, now });
      result.outcomes.push(outcome);
      if (outcome.status !== 'planned') throw new Error(`plan did not plan: ${summariseOutcome(outcome)}`);
      return [undefined, outcome.reason ?? ''];
    });

    const recoverAndCheck = async (label: string) => {
      await step(`Recover ${label} through the engine`, async () => {
        const outcome = await recoverKey(clients!, alias, { action: 'auto', config, now });
        result.outcomes.push(outcome);
        if (outcome.status !== 'recovered') throw new Error(summariseOutcome(outcome));
        return [undefined, summariseOutcome(outcome)];
      });
      await step(`Prove it: ${probe.describe}`, async () => {
        if (!(await probe.check(kms, keyId, made))) throw new Error('the old data did not check out after recovery');
        return [undefined, 'same material is back'];
      });
    };

    await recoverAndCheck('after expiry');

    await step('Someone deletes the imported material by hand', async () => {
      await kms.send(new DeleteImportedKeyMaterialCommand({ KeyId: keyId }));
      const state = (await kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata!.KeyState;
      if (state !== 'PendingImport') throw new Error(`expected PendingImport after deletion, it is ${state}`);
      return [undefined, `key ${state}`];
    });

    await recoverAndCheck('after deletion');
    result.ok = true;
  } catch {
    result.ok = false;
  } finally {
    clients?.kms.destroy();
    clients?.secrets.destroy();
    if (ownEndpoint && endpoint) await endpoint.close();
  }

  print('');
  print(`Drill summary (${keySpec}${result.keyId ? `, key ${result.keyId}` : ''}):`);
  for (const s of result.steps) print(`  ${s.ok ? 'ok    ' : 'FAILED'} ${s.name} (${s.ms} ms)`);
  const totalMs = result.steps.reduce((sum, s) => sum + s.ms, 0);
  print(result.ok ? `DRILL PASSED: ${result.steps.length} steps in ${totalMs} ms` : `DRILL FAILED at: ${result.steps.find((s) => !s.ok)?.name ?? 'setup'}`);
  return result;
}
