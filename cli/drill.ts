/**
 * The recovery drill: a full rehearsal of the 3 a.m. incident against the in-process local
 * endpoint, no AWS account needed. It creates an EXTERNAL key, escrows fresh material, imports it
 * with a short ValidTo, uses the key, lets the material expire (by moving the endpoint's clock),
 * recovers through the same engine the Lambdas use, proves the old data is readable again, then
 * does the same after someone deletes the material by hand (runDrill, `drill --local`).
 *
 * On a real account (runAccountDrill, `drill --yes`): the game day with a throwaway key of its own,
 * tagged kms-reimport:drill=<drill id>, recovered by the deployed service (--stack, --state-machine)
 * or the library, then cleaned up (key deletion scheduled, secret deleted with a recovery window).
 * Every destructive call is preceded by the drill-tag check (assertDrillKey, assertDrillSecret).
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { ListExecutionsCommand, SFNClient, type ExecutionListItem } from '@aws-sdk/client-sfn';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import {
  CreateAliasCommand,
  CreateKeyCommand,
  DecryptCommand,
  DeleteImportedKeyMaterialCommand,
  DescribeKeyCommand,
  EncryptCommand,
  ListResourceTagsCommand,
  ScheduleKeyDeletionCommand,
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
import { DeleteSecretCommand, DescribeSecretCommand, TagResourceCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { startLocalEndpoint, type LocalEndpoint } from '../local/index.js';
import { createClients } from '../lib/aws/clients.js';
import { DEFAULT_CONFIG, loadConfig, type ReimportConfig } from '../lib/config.js';
import { configOfStack } from '../lib/doctor/index.js';
import { readStack } from '../lib/doctor/stack.js';
import { awsErrorName, ConfigError, DrillRecoveryFailed, DrillRecoveryTimedOut, DrillRefused, ReimportError, toNamedError, VerificationFailed } from '../lib/errors.js';
import { ESCROW_KEY_ID_TAG } from '../lib/escrow/read.js';
import { generateKeyMaterial } from '../lib/material/generate.js';
import { escrowAndImport } from '../lib/material/onboard.js';
import { recoverKey } from '../lib/reimport.js';
import { summariseOutcome } from '../lib/outcome.js';
import { progress } from './options.js';
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

/**
 * A failure as a line: a named error's own message; anything else (a raw SDK error, whose message
 * may quote the request) through toNamedError, which says which call failed and never quotes it.
 */
export function failureLine(error: unknown, keyRef: string): string {
  const named = error instanceof ReimportError ? error : toNamedError(error, keyRef);
  return `${named.name}: ${named.message}`;
}

/** Runs one numbered drill step: prints it, times it, records it in `steps`, rethrows a failure. */
function stepper(steps: DrillStep[], total: number, print: (line: string) => void, keyRef: () => string) {
  return async <T>(name: string, work: () => Promise<[T, string]>): Promise<T> => {
    const started = performance.now();
    print(`[${String(steps.length + 1).padStart(2)}/${total}] ${name} ...`);
    try {
      const [value, detail] = await work();
      const ms = Math.round(performance.now() - started);
      steps.push({ name, ok: true, ms, detail });
      print(`        ok (${ms} ms) ${detail}`);
      return value;
    } catch (error) {
      const ms = Math.round(performance.now() - started);
      const detail = failureLine(error, keyRef());
      steps.push({ name, ok: false, ms, detail });
      print(`        FAILED (${ms} ms) ${detail}`);
      throw error;
    }
  };
}

export async function runDrill(options: DrillOptions = {}): Promise<DrillResult> {
  const print = options.print ?? ((line: string) => console.log(line));
  const keySpec = options.keySpec ?? 'SYMMETRIC_DEFAULT';
  const config: ReimportConfig = { ...DEFAULT_CONFIG, ...options.config };
  const result: DrillResult = { ok: false, steps: [], outcomes: [] };
  const total = 12;

  const step = stepper(result.steps, total, print, () => result.keyId ?? 'the drill key');

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
      if (state !== 'PendingImport') throw new VerificationFailed(`Drill key ${keyId} is ${state} after its ValidTo passed, not PendingImport: the local endpoint did not expire its material.`, { keyId });
      return [undefined, `clock now ${now().toISOString()}, key ${state}`];
    });

    await step('Confirm the outage: the key refuses to work', async () => {
      try {
        await probe.check(kms, keyId, made);
      } catch (error) {
        return [undefined, `refused as expected: ${(error as Error).name}`];
      }
      throw new VerificationFailed(`Drill key ${keyId} still worked while PendingImport: the outage the drill rehearses did not happen.`, { keyId });
    });

    await step('Ask for a plan first (dry run)', async () => {
      const outcome = await recoverKey(clients!, alias, { action: 'plan', config, now });
      result.outcomes.push(outcome);
      if (outcome.status !== 'planned') throw new DrillRecoveryFailed(`The plan for drill key ${keyId} did not plan a recovery: ${summariseOutcome(outcome)}`, { keyId });
      return [undefined, outcome.reason ?? ''];
    });

    const recoverAndCheck = async (label: string) => {
      await step(`Recover ${label} through the engine`, async () => {
        const outcome = await recoverKey(clients!, alias, { action: 'auto', config, now });
        result.outcomes.push(outcome);
        if (outcome.status !== 'recovered') throw new DrillRecoveryFailed(`Drill key ${keyId} was not recovered ${label}: ${summariseOutcome(outcome)}`, { keyId });
        return [undefined, summariseOutcome(outcome)];
      });
      await step(`Prove it: ${probe.describe}`, async () => {
        if (!(await probe.check(kms, keyId, made))) throw new VerificationFailed(`Drill key ${keyId}: the data made before the outage did not check out after recovery`, { keyId });
        return [undefined, 'same material is back'];
      });
    };

    await recoverAndCheck('after expiry');

    await step('Someone deletes the imported material by hand', async () => {
      await kms.send(new DeleteImportedKeyMaterialCommand({ KeyId: keyId }));
      const state = (await kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata!.KeyState;
      if (state !== 'PendingImport') throw new VerificationFailed(`Drill key ${keyId} is ${state} after DeleteImportedKeyMaterial, not PendingImport.`, { keyId });
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

// ---------------------------------------------------------------------------------------------
// The drill on a real account (game day): `kms-reimport drill --yes [--stack NAME | --state-machine ARN]`

/** The tag that marks what a drill created; its value is the drill's id. */
export const DRILL_TAG_KEY = 'kms-reimport:drill';
/** KMS's shortest waiting period before a key is deleted, and Secrets Manager's shortest recovery window. */
export const DRILL_DELETION_DAYS = 7;

export interface AccountDrillOptions {
  keySpec?: string;
  /** Without it, the plan is printed and nothing is created. */
  yes?: boolean;
  stackName?: string;
  stateMachineArn?: string;
  region?: string;
  profile?: string;
  endpointUrl?: string;
  /** How long to wait for the deployed service to recover the key (default 900 s). */
  timeoutSeconds?: number;
  /** How often to look at the key and the executions (default 10 s). */
  pollSeconds?: number;
  print?: (line: string) => void;
  config?: ReimportConfig;
  /** Tests: a ready drill id instead of a random one. */
  drillId?: string;
}

/** Clients the account drill uses; built from the AWS flags unless given (tests). */
export interface AccountDrillClients {
  kms: KMSClient;
  secrets: SecretsManagerClient;
  sts?: Pick<STSClient, 'send'>;
  sfn?: Pick<SFNClient, 'send'>;
  cloudformation?: Pick<CloudFormationClient, 'send'>;
}

export interface AccountDrillResult extends DrillResult {
  drillId: string;
  /** The plan was printed, nothing created (no --yes). */
  planned?: boolean;
  interrupted?: boolean;
  /** Milliseconds from DeleteImportedKeyMaterial to the key Enabled again. */
  deletionToEnabledMs?: number;
  /** What the drill left: the key's and the secret's scheduled deletions, or what it could not clean up. */
  cleanup: string[];
}

async function tagsOfKey(kms: KMSClient, keyId: string): Promise<Record<string, string>> {
  const tags: Record<string, string> = {};
  let marker: string | undefined;
  do {
    const page = await kms.send(new ListResourceTagsCommand({ KeyId: keyId, ...(marker ? { Marker: marker } : {}) }));
    for (const t of page.Tags ?? []) if (t.TagKey !== undefined) tags[t.TagKey] = t.TagValue ?? '';
    marker = page.Truncated ? page.NextMarker : undefined;
  } while (marker);
  return tags;
}

/** Refuses (DrillRefused) unless the key carries this drill's tag: the check before every destructive KMS call. */
export async function assertDrillKey(kms: KMSClient, keyId: string, drillId: string): Promise<void> {
  let tags: Record<string, string>;
  try {
    tags = await tagsOfKey(kms, keyId);
  } catch (e) {
    throw new DrillRefused(`kms-reimport drill could not read the tags of key ${keyId} (${awsErrorName(e) ?? 'error'}), so it cannot prove it created the key: not touched.`, { keyId, cause: e });
  }
  const tag = tags[DRILL_TAG_KEY];
  if (tag === drillId) return;
  throw new DrillRefused(
    tag === undefined
      ? `Key ${keyId} does not carry the ${DRILL_TAG_KEY} tag: kms-reimport drill did not create it and will not touch it. Nothing was changed.`
      : `Key ${keyId} belongs to another drill (${DRILL_TAG_KEY}=${tag}; this drill is ${drillId}): not touched. If that drill was interrupted, delete its key yourself: aws kms schedule-key-deletion --key-id ${keyId} --pending-window-in-days ${DRILL_DELETION_DAYS}`,
    { keyId },
  );
}

/**
 * Refuses (DrillRefused) unless the secret carries this drill's tag and is bound to this drill's key
 * (its kms-reimport:key-id tag): the check before the secret is deleted.
 */
export async function assertDrillSecret(secrets: SecretsManagerClient, secretId: string, keyId: string, drillId: string): Promise<void> {
  let tags: Record<string, string>;
  try {
    const described = await secrets.send(new DescribeSecretCommand({ SecretId: secretId }));
    tags = Object.fromEntries((described.Tags ?? []).map((t) => [t.Key ?? '', t.Value ?? '']));
  } catch (e) {
    throw new DrillRefused(`kms-reimport drill could not describe secret ${secretId} (${awsErrorName(e) ?? 'error'}), so it cannot prove it created the secret: not touched.`, { keyId, cause: e });
  }
  if (tags[DRILL_TAG_KEY] === drillId && tags[ESCROW_KEY_ID_TAG] === keyId) return;
  throw new DrillRefused(
    `Secret ${secretId} is not this drill's (${DRILL_TAG_KEY}=${tags[DRILL_TAG_KEY] ?? 'none'}, ${ESCROW_KEY_ID_TAG}=${tags[ESCROW_KEY_ID_TAG] ?? 'none'}; this drill is ${drillId} for key ${keyId}): ` +
      'kms-reimport drill never deletes escrow it did not create. Nothing was changed.',
    { keyId },
  );
}

/** DeleteImportedKeyMaterial, only on this drill's key. */
export async function deleteDrillMaterial(kms: KMSClient, keyId: string, drillId: string): Promise<void> {
  await assertDrillKey(kms, keyId, drillId);
  await kms.send(new DeleteImportedKeyMaterialCommand({ KeyId: keyId }));
}

/** ScheduleKeyDeletion (7 days), only on this drill's key; returns the deletion date and the key's state after it. */
export async function scheduleDrillKeyDeletion(kms: KMSClient, keyId: string, drillId: string): Promise<{ deletionDate: string; keyState?: string }> {
  await assertDrillKey(kms, keyId, drillId);
  const out = await kms.send(new ScheduleKeyDeletionCommand({ KeyId: keyId, PendingWindowInDays: DRILL_DELETION_DAYS }));
  return { deletionDate: out.DeletionDate?.toISOString() ?? `in ${DRILL_DELETION_DAYS} days`, ...(out.KeyState ? { keyState: out.KeyState } : {}) };
}

/**
 * DeleteSecret with a 7-day recovery window, only on this drill's secret; returns the deletion date.
 * Not ForceDeleteWithoutRecovery: escrow is never destroyed outright, and this secret stays
 * restorable exactly as long as its key (CancelKeyDeletion within the same 7 days would bring back a
 * key whose material only this secret holds).
 */
export async function deleteDrillSecret(secrets: SecretsManagerClient, secretId: string, keyId: string, drillId: string): Promise<string> {
  await assertDrillSecret(secrets, secretId, keyId, drillId);
  const out = await secrets.send(new DeleteSecretCommand({ SecretId: secretId, RecoveryWindowInDays: DRILL_DELETION_DAYS }));
  return out.DeletionDate?.toISOString() ?? `in ${DRILL_DELETION_DAYS} days`;
}

/** The plan printed before anything is created. */
export function drillPlan(p: { account: string; region: string; drillId: string; keySpec: string; config: ReimportConfig; via: string }): string[] {
  return [
    `kms-reimport drill on AWS account ${p.account}, Region ${p.region} (drill id ${p.drillId})`,
    'It creates, and cleans up when it ends (also on Ctrl-C):',
    `  - one KMS key, EXTERNAL ${p.keySpec}, tagged ${DRILL_TAG_KEY}=${p.drillId} and ${p.config.managedTagKey}=${p.config.managedTagValue}; ` +
      `scheduled for deletion ${DRILL_DELETION_DAYS} days after the drill (the shortest wait KMS allows)`,
    `  - one Secrets Manager secret ${p.config.escrowPrefix}<key-id> holding random throwaway material (never your keys' material); ` +
      `deleted with a ${DRILL_DELETION_DAYS}-day recovery window`,
    `It then deletes the drill key's imported material once and recovers it through ${p.via}.`,
    `It never touches a key or secret without its ${DRILL_TAG_KEY}=${p.drillId} tag.`,
    `Cost: the key $1/month prorated hourly, at most about $0.25 for its ${DRILL_DELETION_DAYS} days; the secret $0.40/month prorated, a few cents; ` +
      'about 40 KMS, Secrets Manager and Step Functions requests, well under $0.01.',
  ];
}

async function callerAccount(sts: Pick<STSClient, 'send'> | undefined): Promise<string> {
  if (!sts) return '(unknown)';
  try {
    return (await sts.send(new GetCallerIdentityCommand({}))).Account ?? '(unknown)';
  } catch (e) {
    return `(unknown: STS GetCallerIdentity failed with ${awsErrorName(e) ?? 'an error'})`;
  }
}

interface ServiceWatch {
  sfn: Pick<SFNClient, 'send'>;
  stateMachineArn: string;
  stackName?: string;
  region: string;
}

const TERMINAL_FAILURES = new Set(['FAILED', 'TIMED_OUT', 'ABORTED']);

/**
 * Waits for the deployed service to bring the key back after the deletion at `deletedAt`: polls the
 * key's state and the state machine's executions for the key (their names start with the key ID),
 * printing each execution as its status changes. Resolves with the ms from deletion to Enabled.
 */
async function watchServiceRecovery(
  kms: KMSClient,
  watch: ServiceWatch,
  keyId: string,
  deletedAt: number,
  opts: { timeoutMs: number; pollMs: number; print: (line: string) => void; signal: AbortSignal },
): Promise<number> {
  const seen = new Map<string, string>();
  const deadline = deletedAt + opts.timeoutMs;
  let state = 'PendingImport';
  for (;;) {
    if (opts.signal.aborted) throw new DrillInterrupted();
    state = (await kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata?.KeyState ?? 'unknown';
    const mine = (await executionsSince(watch, deletedAt - 60_000)).filter((e) => e.name?.startsWith(keyId));
    for (const e of mine) {
      if (seen.get(e.name!) !== e.status) {
        seen.set(e.name!, e.status ?? '?');
        opts.print(`        execution ${e.name}: ${e.status} (${Math.round((Date.now() - deletedAt) / 1000)} s after the deletion)`);
      }
    }
    if (state === 'Enabled') return Date.now() - deletedAt;
    const failed = mine.find((e) => TERMINAL_FAILURES.has(e.status ?? ''));
    if (failed && !mine.some((e) => e.status === 'RUNNING')) {
      throw new DrillRecoveryFailed(
        `The deployed service's execution ${failed.name} for drill key ${keyId} ended ${failed.status}, and the key is ${state}. ` +
          `Read why: aws stepfunctions describe-execution --execution-arn ${failed.executionArn}. The drill key is cleaned up now.`,
        { keyId },
      );
    }
    if (Date.now() >= deadline) {
      const seconds = Math.round((Date.now() - deletedAt) / 1000);
      const doctor = `kms-reimport doctor ${watch.stackName ? `--stack ${watch.stackName}` : '--stack <your stack>'} --region ${watch.region}`;
      throw new DrillRecoveryTimedOut(
        mine.length === 0
          ? `Drill key ${keyId} is still ${state} ${seconds} s after its material was deleted, and no execution of ${watch.stateMachineArn} started for it. ` +
              `The likely cause is CloudTrail: without a trail that logs management events in ${watch.region}, EventBridge never receives the ` +
              `DeleteImportedKeyMaterial event and the deployed service never hears of a deletion (only the next sweep would catch it). Check: ${doctor}`
          : `Drill key ${keyId} is still ${state} ${seconds} s after its material was deleted; the service's execution(s) ${[...seen.keys()].join(', ')} did not finish in time. ` +
              `Follow them: aws stepfunctions list-executions --state-machine-arn ${watch.stateMachineArn}`,
        { keyId },
      );
    }
    await sleep(Math.min(opts.pollMs, Math.max(0, deadline - Date.now())), undefined, { signal: opts.signal }).catch(() => undefined);
  }
}

/**
 * The state machine's executions started since `since`, every page: ListExecutions lists the most
 * recent first, so paging stops at the first page that reaches back before `since` (a busy state
 * machine, a sweep of many keys, may list more than one page since the deletion).
 */
async function executionsSince(watch: ServiceWatch, since: number): Promise<ExecutionListItem[]> {
  const out: ExecutionListItem[] = [];
  let token: string | undefined;
  do {
    const page = await watch.sfn.send(new ListExecutionsCommand({ stateMachineArn: watch.stateMachineArn, maxResults: 100, ...(token ? { nextToken: token } : {}) }));
    const executions = page?.executions ?? [];
    out.push(...executions.filter((e) => (e.startDate?.getTime() ?? 0) >= since));
    if (executions.some((e) => (e.startDate?.getTime() ?? Number.MAX_SAFE_INTEGER) < since)) break;
    token = page?.nextToken || undefined;
  } while (token);
  return out;
}

/** Ctrl-C during the drill: stop at the next step and clean up. */
class DrillInterrupted extends ReimportError {
  constructor() {
    super('interrupted (Ctrl-C): the drill stopped and cleans up what it created');
    this.name = 'DrillInterrupted';
  }
}

function buildAccountClients(options: AccountDrillOptions, stateMachineNeeded: boolean, stackNeeded: boolean): AccountDrillClients {
  const flags = {
    ...(options.region ? { region: options.region } : {}),
    ...(options.profile ? { profile: options.profile } : {}),
    ...(options.endpointUrl ? { endpointUrl: options.endpointUrl } : {}),
  };
  const shared = { ...(flags.region ? { region: flags.region } : {}), ...(flags.profile ? { profile: flags.profile } : {}), ...(flags.endpointUrl ? { endpoint: flags.endpointUrl } : {}) };
  return {
    ...createClients(flags),
    sts: new STSClient(shared),
    ...(stateMachineNeeded ? { sfn: new SFNClient(shared) } : {}),
    ...(stackNeeded ? { cloudformation: new CloudFormationClient(shared) } : {}),
  };
}

/**
 * The game day: on the account and Region of the credentials, a throwaway EXTERNAL key is created,
 * escrowed and imported, used, its material deleted, recovered (by the deployed service when a
 * stack or state machine is named, else by the library in this process), proven, and cleaned up.
 */
export async function runAccountDrill(options: AccountDrillOptions, given?: AccountDrillClients): Promise<AccountDrillResult> {
  const print = options.print ?? ((line: string) => console.log(line));
  const keySpec = options.keySpec ?? 'SYMMETRIC_DEFAULT';
  const drillId = options.drillId ?? `drill-${randomBytes(6).toString('hex')}`;
  const viaService = options.stackName !== undefined || options.stateMachineArn !== undefined;
  const clients = given ?? buildAccountClients(options, viaService, options.stackName !== undefined);
  const { kms, secrets } = clients;
  const result: AccountDrillResult = { ok: false, steps: [], outcomes: [], drillId, cleanup: [] };
  const abort = new AbortController();
  let interrupts = 0;
  const onSigint = () => {
    interrupts++;
    if (interrupts === 1) {
      result.interrupted = true;
      abort.abort();
      print('Interrupted (Ctrl-C): finishing the call in flight, then cleaning up what this drill created. Ctrl-C again to leave at once.');
      return;
    }
    print(`Left at once: ${result.keyId ? `key ${result.keyId} (aws kms schedule-key-deletion --key-id ${result.keyId} --pending-window-in-days 7) and its secret may remain.` : 'nothing was created yet.'}`);
    process.exit(130);
  };
  try {
    let config: ReimportConfig = options.config ?? loadConfig(process.env);
    const region = await kms.config.region().catch(() => undefined);
    if (!region) throw new ConfigError('No AWS Region is configured: give --region REGION, or set AWS_REGION (or a region in the --profile). Nothing was created.');
    let stateMachineArn = options.stateMachineArn;
    if (options.stackName !== undefined) {
      if (!clients.cloudformation) throw new ConfigError(`kms-reimport drill --stack ${options.stackName} needs a CloudFormation client, and none was given. Nothing was created.`);
      const lookup = await readStack(clients.cloudformation, options.stackName);
      if (!lookup.stack) throw new DrillRefused(`Stack ${options.stackName}: ${lookup.checks[0]?.message ?? 'not found'}. ${lookup.checks[0]?.fix ?? ''} Nothing was created.`);
      config = configOfStack(config, lookup.stack);
      const machines = lookup.stack.resources.filter((r) => r.type === 'AWS::StepFunctions::StateMachine');
      if (machines.length !== 1) throw new DrillRefused(`Stack ${options.stackName} has ${machines.length} state machines, not one: name it with --state-machine ARN. Nothing was created.`);
      stateMachineArn = machines[0]!.physicalId;
    }
    const via = stateMachineArn ? `the deployed service (state machine ${stateMachineArn}; the real EventBridge rule on the real CloudTrail event)` : 'the library in this process (lib/reimport.ts recoverKey)';
    for (const line of drillPlan({ account: await callerAccount(clients.sts), region, drillId, keySpec, config, via })) print(line);
    if (!options.yes) {
      progress('Nothing was created. Run again with --yes to start the drill on this account, or run kms-reimport drill --local to rehearse with no AWS account.');
      result.planned = true;
      return result;
    }
    if (viaService && !clients.sfn) throw new ConfigError('kms-reimport drill through the deployed service needs a Step Functions client, and none was given. Nothing was created.');
    process.on('SIGINT', onSigint);

    const total = 6;
    const run = stepper(result.steps, total, print, () => result.keyId ?? 'the drill key');
    const step = async <T>(name: string, work: () => Promise<[T, string]>): Promise<T> => {
      if (abort.signal.aborted) throw new DrillInterrupted();
      return run(name, work);
    };
    const { keyUsage, probe } = probeFor(keySpec);
    const secretName = (keyId: string) => `${config.escrowPrefix}${keyId}`;

    try {
      const keyId = await step(`Create a throwaway EXTERNAL ${keySpec} key tagged ${DRILL_TAG_KEY}=${drillId}`, async () => {
        const created = await kms.send(
          new CreateKeyCommand({
            Origin: 'EXTERNAL',
            KeySpec: keySpec as KeySpec,
            KeyUsage: keyUsage,
            Description: `kms-reimport drill ${drillId}: throwaway key, scheduled for deletion when the drill ends`,
            Tags: [
              { TagKey: DRILL_TAG_KEY, TagValue: drillId },
              { TagKey: config.managedTagKey, TagValue: config.managedTagValue },
            ],
          }),
        );
        const id = created.KeyMetadata!.KeyId!;
        result.keyId = id;
        return [id, `${created.KeyMetadata!.Arn} (${created.KeyMetadata!.KeyState})`];
      });

      await step('Escrow random material in Secrets Manager, then import it', async () => {
        const material = await generateKeyMaterial(keySpec);
        let failed = false;
        try {
          const onboarded = await escrowAndImport(clients, {
            keyId,
            keySpec,
            material,
            config,
            expirationModel: 'KEY_MATERIAL_EXPIRES',
            validTo: new Date(Date.now() + 86_400_000),
          });
          return [undefined, `escrow ${onboarded.secretArn}; material ${onboarded.keyMaterialId ?? '(id not reported)'}, ValidTo ${onboarded.validTo}`];
        } catch (error) {
          failed = true;
          throw error;
        } finally {
          material.fill(0);
          // Mark the secret as this drill's (whether or not the import worked), so cleanup may delete it.
          // A tagging failure never hides the step's own error: after one, it is only reported.
          try {
            await tagDrillSecret(secrets, secretName(keyId), keyId, drillId);
          } catch (tagError) {
            if (!failed) throw tagError;
            print(`        (the escrow secret could not be tagged ${DRILL_TAG_KEY}=${drillId} either: ${failureLine(tagError, keyId)})`);
          }
        }
      });

      const made = await step(`Use the key (${keyUsage})`, async () => {
        const out = await probe.make(kms, keyId);
        return [out, `${out.length} bytes made before the outage`];
      });

      const deletedAt = await step('Delete the imported material (the outage)', async () => {
        await deleteDrillMaterial(kms, keyId, drillId);
        const at = Date.now();
        const state = (await kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata!.KeyState;
        return [at, `key ${state} at ${new Date(at).toISOString()}`];
      });

      if (stateMachineArn) {
        const timeoutMs = (options.timeoutSeconds ?? 900) * 1000;
        await step(`Wait for the deployed service to recover it (up to ${Math.round(timeoutMs / 1000)} s)`, async () => {
          const ms = await watchServiceRecovery(kms, { sfn: clients.sfn!, stateMachineArn: stateMachineArn!, region, ...(options.stackName ? { stackName: options.stackName } : {}) }, keyId, deletedAt, {
            timeoutMs,
            pollMs: (options.pollSeconds ?? 10) * 1000,
            print,
            signal: abort.signal,
          });
          result.deletionToEnabledMs = ms;
          return [undefined, `Enabled ${(ms / 1000).toFixed(1)} s after the deletion`];
        });
      } else {
        await step('Recover it through the library (recoverKey)', async () => {
          const outcome = await recoverKey(clients, keyId, { action: 'auto', config });
          result.outcomes.push(outcome);
          const state = (await kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata!.KeyState;
          if (state !== 'Enabled') throw new VerificationFailed(`Drill key ${keyId} is ${state} after recovery: ${summariseOutcome(outcome)}`, { keyId });
          result.deletionToEnabledMs = Date.now() - deletedAt;
          return [undefined, `${summariseOutcome(outcome)}; Enabled ${(result.deletionToEnabledMs / 1000).toFixed(1)} s after the deletion`];
        });
      }

      await step(`Prove it: ${probe.describe}`, async () => {
        if (!(await probe.check(kms, keyId, made))) throw new VerificationFailed(`Drill key ${keyId}: the data made before the outage did not check out after recovery`, { keyId });
        return [undefined, 'the same material is back'];
      });
      result.ok = true;
    } catch {
      result.ok = false;
    } finally {
      await cleanUpDrill(clients, result, secretName, print);
    }
  } finally {
    process.off('SIGINT', onSigint);
    if (!given) for (const c of Object.values(clients)) (c as { destroy?: () => void }).destroy?.();
  }

  print('');
  print(`Drill summary (${drillId}${result.keyId ? `, key ${result.keyId}` : ''}):`);
  for (const s of result.steps) print(`  ${s.ok ? 'ok    ' : 'FAILED'} ${s.name} (${s.ms} ms)`);
  for (const c of result.cleanup) print(`  cleanup: ${c}`);
  if (result.deletionToEnabledMs !== undefined) print(`  deletion to Enabled: ${(result.deletionToEnabledMs / 1000).toFixed(1)} s`);
  print(
    result.ok
      ? `DRILL PASSED: ${result.steps.length} steps`
      : result.interrupted
        ? 'DRILL INTERRUPTED: cleaned up as listed above'
        : `DRILL FAILED at: ${result.steps.find((s) => !s.ok)?.name ?? 'setup'}`,
  );
  return result;
}

/** Tags the drill key's escrow secret with the drill tag, when it exists and is bound to that key. */
async function tagDrillSecret(secrets: SecretsManagerClient, secretId: string, keyId: string, drillId: string): Promise<void> {
  try {
    const described = await secrets.send(new DescribeSecretCommand({ SecretId: secretId }));
    const bound = (described.Tags ?? []).some((t) => t.Key === ESCROW_KEY_ID_TAG && t.Value === keyId);
    if (bound) await secrets.send(new TagResourceCommand({ SecretId: secretId, Tags: [{ Key: DRILL_TAG_KEY, Value: drillId }] }));
  } catch (e) {
    if (awsErrorName(e) !== 'ResourceNotFoundException') throw e;
  }
}

/**
 * Schedules the drill key's deletion, then deletes its secret, each only after the ownership check.
 * The secret goes only once the key is PendingDeletion: until then the key may still be used (it is
 * Enabled, and managed), and the secret holds the only copy of its material. A key that could not be
 * scheduled keeps its secret, and the cleanup says so.
 */
async function cleanUpDrill(clients: AccountDrillClients, result: AccountDrillResult, secretName: (keyId: string) => string, print: (line: string) => void): Promise<void> {
  const keyId = result.keyId;
  if (keyId === undefined) return;
  print(`Cleaning up drill ${result.drillId} ...`);
  const secretId = secretName(keyId);
  let keyState: string | undefined;
  try {
    const scheduled = await scheduleDrillKeyDeletion(clients.kms, keyId, result.drillId);
    keyState = scheduled.keyState;
    result.cleanup.push(`key ${keyId} scheduled for deletion on ${scheduled.deletionDate}`);
  } catch (e) {
    result.cleanup.push(`key ${keyId} NOT scheduled for deletion (${failureLine(e, keyId)}); do it yourself: aws kms schedule-key-deletion --key-id ${keyId} --pending-window-in-days ${DRILL_DELETION_DAYS}`);
  }
  if (keyState === undefined) {
    try {
      keyState = (await clients.kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata?.KeyState;
    } catch {
      keyState = undefined;
    }
  }
  if (keyState !== 'PendingDeletion') {
    result.cleanup.push(
      `secret ${secretId} kept: key ${keyId} is ${keyState ?? 'in an unknown state'}, not PendingDeletion, and the secret holds its material. ` +
        `Once the key's deletion is scheduled: aws secretsmanager delete-secret --secret-id ${secretId} --recovery-window-in-days ${DRILL_DELETION_DAYS}`,
    );
    return;
  }
  try {
    const at = await deleteDrillSecret(clients.secrets, secretId, keyId, result.drillId);
    result.cleanup.push(`secret ${secretId} deleted with a ${DRILL_DELETION_DAYS}-day recovery window (gone ${at})`);
  } catch (e) {
    if (e instanceof DrillRefused && awsErrorName(e.cause) === 'ResourceNotFoundException') {
      result.cleanup.push(`no secret ${secretId} was created`);
    } else {
      result.cleanup.push(`secret ${secretId} NOT deleted (${failureLine(e, keyId)}); if it is this drill's: aws secretsmanager delete-secret --secret-id ${secretId} --recovery-window-in-days ${DRILL_DELETION_DAYS}`);
    }
  }
}
