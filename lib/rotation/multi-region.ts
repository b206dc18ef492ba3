/**
 * What in-place rotation needs to know about a Multi-Region key (KMS-FACTS "Multi-Region keys"):
 * KMS never copies imported material between Regions, so a rotation of a PRIMARY key imports its
 * new material (NEW_KEY_MATERIAL, then PENDING_MULTI_REGION_IMPORT_AND_ROTATION) into the primary,
 * the same material into every replica (EXISTING_KEY_MATERIAL with the primary's KeyMaterialId,
 * under import parameters from the replica's own Region; the primary's material then goes to
 * PENDING_ROTATION), and only then calls RotateKeyOnDemand on the primary. The orchestration lives
 * in in-place.ts (the same steps as a single-Region rotation); this module holds the decisions:
 *   - which keys take part (a REPLICA key is never rotated itself: its primary is);
 *   - escrow readable in every replica Region (the escrow secret replicated there, InSync), checked
 *     before anything is imported into KMS: a replica Region must be able to recover on its own;
 *   - a client per Region (the same endpoint and credentials as the primary's).
 */
import { KMSClient } from '@aws-sdk/client-kms';
import { DescribeSecretCommand, ReplicateSecretToRegionsCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { ReimportConfig } from '../config.js';
import { awsErrorName, EscrowNotReplicated, KeyNotEligible, KeyNotManaged, KeyNotReadable, KmsUnavailable, ReimportError } from '../errors.js';
import { inspectKey } from '../kms/inspect.js';
import type { EscrowEntry } from '../escrow/format.js';
import { wipeEscrowed } from '../escrow/material.js';
import { escrowSecretId, readEscrow } from '../escrow/read.js';
import { callWithRetry, type RetryOptions } from '../retry.js';
import type { KeyReport } from '../types.js';

/** A KMS client for a Region (the same endpoint and credentials as the run's client). */
export type KmsFor = (region: string) => KMSClient;
/** A Secrets Manager client for a Region (the same endpoint and credentials as the run's client). */
export type SecretsFor = (region: string) => SecretsManagerClient;

type MultiRegionFacts = Pick<KeyReport, 'keyId' | 'arn' | 'multiRegion' | 'multiRegionKeyType' | 'primaryRegion' | 'replicaRegions'>;

/** The Region of a KMS key ARN. */
export function regionOfKeyArn(arn: string): string | undefined {
  return /^arn:[^:]+:kms:([^:]+):/.exec(arn)?.[1];
}

/** The Regions whose replicas take a rotation of this key: a Multi-Region PRIMARY's replica Regions, else none. */
export function replicaRegionsOf(report: MultiRegionFacts): string[] {
  if (!report.multiRegion || report.multiRegionKeyType !== 'PRIMARY') return [];
  const own = regionOfKeyArn(report.arn);
  return [...new Set(report.replicaRegions ?? [])].filter((r) => r !== own).sort();
}

/** Why this Multi-Region key is not rotated itself (undefined: a single-Region key or a primary). */
export function multiRegionRefusal(report: MultiRegionFacts): string | undefined {
  if (!report.multiRegion) return undefined;
  if (report.multiRegionKeyType === 'REPLICA') {
    const primary = report.primaryRegion ?? '(its primary Region)';
    const own = regionOfKeyArn(report.arn);
    const primaryArn = report.primaryRegion && own ? report.arn.replace(`:kms:${own}:`, `:kms:${report.primaryRegion}:`) : undefined;
    return (
      `Key ${report.keyId} in ${own ?? 'this Region'} is a replica of a Multi-Region key: rotate its primary ${primary}` +
      `${primaryArn ? ` (rotate the primary ${primaryArn}: the manual event {"action": "rotate", "keyId": "${primaryArn}"} to the trigger in ${primary}, or` : ' ('} ` +
      `kms-reimport rotate ${report.keyId} --region ${primary}); a rotation of the primary brings the new material to every replica. Nothing was done.`
    );
  }
  if (report.multiRegionKeyType !== 'PRIMARY') {
    return `Key ${report.keyId} is a Multi-Region key and KMS did not say whether it is the primary or a replica (MultiRegionConfiguration); nothing was done. Check the key, then run again.`;
  }
  return undefined;
}

/**
 * Makes sure the escrow secret is readable in every replica Region before anything is imported into
 * KMS: its DescribeSecret ReplicationStatus shows each Region InSync. A Region the secret is not
 * replicated to at all (a replica added after onboarding) is added with ReplicateSecretToRegions
 * when the secret is encrypted under Secrets Manager's default key (each Region has its own
 * aws/secretsmanager); a secret under a customer managed key needs a key chosen per Region, so
 * that is left to a person. Anything still not InSync afterwards (InProgress: not readable yet;
 * Failed; a refused replication) is EscrowNotReplicated, naming each Region, why, and the fix.
 * Then, given a client per Region (`secretsFor`), one GetSecretValue in each replica Region: InSync
 * does not mean this role can decrypt the copy there (a customer managed escrow key); the material
 * read is wiped at once. Escrow is never deleted or overwritten here: replication adds read-only
 * copies that follow every version.
 */
export async function checkEscrowReplicated(
  secrets: SecretsManagerClient,
  report: KeyReport,
  config: ReimportConfig,
  retry: RetryOptions,
  log?: { info(message: string, extra?: object): void },
  secretsFor?: SecretsFor,
): Promise<void> {
  const regions = replicaRegionsOf(report);
  if (regions.length === 0) return;
  await checkReplicationStatus(secrets, report, config, retry, regions, log);
  if (secretsFor) await checkReadableInRegions(secretsFor, report, config, retry, regions);
}

/**
 * InSync is not "readable": a secret under a customer managed key is only readable in a replica
 * Region if this role may use that Region's copy's KMS key through Secrets Manager there. One
 * GetSecretValue per replica Region (through its own Region's endpoint), before anything is imported;
 * what it read is wiped at once. A refusal is EscrowNotReplicated naming each Region, why, and the fix.
 */
async function checkReadableInRegions(secretsFor: SecretsFor, report: KeyReport, config: ReimportConfig, retry: RetryOptions, regions: string[]): Promise<void> {
  const secretId = escrowSecretId(report, config);
  const unreadable: string[] = [];
  for (const region of regions) {
    let entries: EscrowEntry[] = [];
    try {
      entries = await readEscrow(secretsFor(region), report, config, retry);
    } catch (e) {
      if (e instanceof KmsUnavailable || !(e instanceof ReimportError)) throw e;
      const cause = (e as { cause?: unknown }).cause;
      unreadable.push(`${region}: ${awsErrorName(cause) ?? e.name}`);
    } finally {
      wipeEscrowed(entries);
    }
  }
  if (unreadable.length === 0) return;
  const failed = unreadable.map((u) => u.slice(0, u.indexOf(':')));
  throw new EscrowNotReplicated(
    `Escrow secret ${secretId} of Multi-Region key ${report.keyId} is replicated (InSync) but this role cannot read it in ${failed.join(', ')} ` +
      `(${unreadable.join('; ')}), where the key has replicas: a rotation would import material there that recovery in that Region could not read back. ` +
      `Nothing was imported into KMS. If the escrow secret is encrypted under a customer managed key, the roles that read escrow need kms:Decrypt on each ` +
      `Region's copy's key through Secrets Manager in that Region (deployed stack: make EscrowKmsKeyArn a Multi-Region key whose replicas encrypt the ` +
      `secret's replicas, or list those Regions' keys in EscrowReplicaKmsKeyArns; see docs/deploy.md "Escrow under a customer managed key"); check with aws secretsmanager get-secret-value --secret-id ${secretId} ` +
      `--region ${failed[0]} --query ARN, then run the rotation again.`,
    { keyId: report.keyId },
  );
}

async function checkReplicationStatus(
  secrets: SecretsManagerClient,
  report: KeyReport,
  config: ReimportConfig,
  retry: RetryOptions,
  regions: string[],
  log?: { info(message: string, extra?: object): void },
): Promise<void> {
  const secretId = escrowSecretId(report, config);
  const describe = () =>
    callWithRetry(
      { service: 'Secrets Manager', operation: 'DescribeSecret', keyId: report.keyId },
      () => secrets.send(new DescribeSecretCommand({ SecretId: secretId })),
      retry,
    );
  let out = await describe();
  const statusOf = () => new Map((out?.ReplicationStatus ?? []).filter((s) => s.Region !== undefined).map((s) => [s.Region as string, s]));
  let status = statusOf();
  const absent = regions.filter((r) => !status.has(r));
  let started: string[] = [];
  let refusedReplication: string | undefined;
  if (absent.length > 0 && out?.KmsKeyId === undefined) {
    try {
      await callWithRetry(
        { service: 'Secrets Manager', operation: 'ReplicateSecretToRegions', keyId: report.keyId },
        () => secrets.send(new ReplicateSecretToRegionsCommand({ SecretId: secretId, AddReplicaRegions: absent.map((Region) => ({ Region })), ForceOverwriteReplicaSecret: false })),
        retry,
      );
      started = absent;
      log?.info('escrow secret replicated to the replica Regions of the Multi-Region key', { keyId: report.keyId, secretId, regions: absent });
    } catch (e) {
      refusedReplication = `${(e as { name?: string }).name ?? 'an error'}${e instanceof ReimportError ? `: ${e.message}` : ''}`;
    }
    out = await describe();
    status = statusOf();
  }
  const missing = regions.filter((r) => status.get(r)?.Status !== 'InSync');
  if (missing.length === 0) return;
  const why = missing
    .map((r) => {
      const s = status.get(r);
      if (!s) return `${r}: not replicated`;
      if (s.Status === 'InProgress') return `${r}: replication InProgress (not readable yet)`;
      return `${r}: replication ${s.Status ?? 'in no known state'}${s.StatusMessage ? ` (${s.StatusMessage})` : ''}`;
    })
    .join('; ');
  const secretRegion = out?.PrimaryRegion ?? regionOfKeyArn(report.arn);
  const tried =
    started.length > 0
      ? ` This run started its replication to ${started.join(', ')} (ReplicateSecretToRegions); run the rotation again once it is InSync.`
      : refusedReplication
        ? ` This run tried to replicate it and Secrets Manager refused (${refusedReplication}).`
        : absent.length > 0
          ? ` The secret is encrypted under a customer managed key (${out?.KmsKeyId}), so kms-reimport does not replicate it itself: each Region needs a key chosen for it.`
          : '';
  throw new EscrowNotReplicated(
    `Escrow secret ${secretId} of Multi-Region key ${report.keyId} is not readable in ${missing.join(', ')}, where the key has replicas (${why}): a rotation would ` +
      `import material there that recovery in that Region could not read back. Nothing was imported into KMS.${tried} Replicate it: ` +
      `aws secretsmanager replicate-secret-to-regions --secret-id ${secretId} --add-replica-regions ${missing.map((r) => `Region=${r}`).join(' ')}` +
      `${secretRegion ? ` --region ${secretRegion}` : ''} (a customer managed escrow key needs KmsKeyId=<a KMS key in that Region> for each), wait until its ` +
      `ReplicationStatus is InSync, then run the rotation again.`,
    { keyId: report.keyId },
  );
}

/**
 * Every replica of a Multi-Region primary must be managed too, checked in its own Region before
 * anything is imported anywhere. KMS does not copy tags to replicas (ReplicateKey takes Tags of its
 * own), so a replica made without the managed tag is a key kms-reimport may not touch, and a role
 * whose KMS permissions are conditioned on that tag (aws:ResourceTag) may not even read it
 * (AccessDeniedException: KeyNotReadable). Either is KeyNotManaged naming the replica, its Region
 * and the tag-resource command. A replica pending deletion is KeyNotEligible. Nothing is imported.
 */
export async function checkReplicasManaged(kmsFor: KmsFor, report: KeyReport, config: ReimportConfig, retry: RetryOptions): Promise<void> {
  const own = regionOfKeyArn(report.arn);
  for (const region of replicaRegionsOf(report)) {
    const replicaArn = own ? report.arn.replace(`:kms:${own}:`, `:kms:${region}:`) : report.keyId;
    const tagIt =
      `Tag it: aws kms tag-resource --key-id ${replicaArn} --tags TagKey=${config.managedTagKey},TagValue=${config.managedTagValue} --region ${region} ` +
      `(KMS does not copy tags to replicas; ReplicateKey takes its own Tags), then run the rotation again. Nothing was imported.`;
    let replica: KeyReport;
    try {
      replica = await inspectKey(kmsFor(region), report.keyId, retry);
    } catch (e) {
      if (!(e instanceof KeyNotReadable)) throw e;
      throw new KeyNotManaged(
        `Replica ${replicaArn} in ${region} of Multi-Region key ${report.keyId} cannot be read by this role (AccessDeniedException): under IAM conditioned on ` +
          `the managed tag that means it lacks ${config.managedTagKey}=${config.managedTagValue}. ${tagIt}`,
        { keyId: report.keyId, cause: e },
      );
    }
    if (replica.tags[config.managedTagKey] !== config.managedTagValue) {
      throw new KeyNotManaged(
        `Replica ${replicaArn} in ${region} of Multi-Region key ${report.keyId} lacks the managed tag ${config.managedTagKey}=${config.managedTagValue}: ` +
          `kms-reimport touches only managed keys, and a rotation imports the new material into every replica. ${tagIt}`,
        { keyId: report.keyId },
      );
    }
    if (replica.keyState === 'PendingDeletion' || replica.keyState === 'PendingReplicaDeletion') {
      throw new KeyNotEligible(
        `Replica ${replicaArn} in ${region} of Multi-Region key ${report.keyId} is ${replica.keyState}: a rotation would import into it. ` +
          `Cancel its deletion (aws kms cancel-key-deletion --key-id ${replicaArn} --region ${region}) or wait until it is gone, then run again. Nothing was imported.`,
        { keyId: report.keyId },
      );
    }
  }
}

/**
 * A KmsFor that makes (and caches) a client per Region with the endpoint and credentials of `kms`;
 * `destroy` closes the clients it made. For callers that gave no factory of their own.
 */
export function regionalKmsClients(kms: KMSClient): { kmsFor: KmsFor; destroy(): void } {
  const { clientFor, destroy } = regionalClients(kms, (options) => new KMSClient(options));
  return { kmsFor: clientFor, destroy };
}

/** The same for Secrets Manager (escrow as a replica Region reads it). */
export function regionalSecretsClients(secrets: SecretsManagerClient): { secretsFor: SecretsFor; destroy(): void } {
  const { clientFor, destroy } = regionalClients(secrets, (options) => new SecretsManagerClient(options));
  return { secretsFor: clientFor, destroy };
}

function regionalClients<C extends { config: unknown; destroy(): void }>(
  like: C,
  make: (options: { region: string; endpoint?: never; credentials?: never; maxAttempts: number }) => C,
): { clientFor: (region: string) => C; destroy(): void } {
  const made = new Map<string, C>();
  const config = like.config as { endpoint?: unknown; credentials?: unknown; isCustomEndpoint?: boolean };
  return {
    clientFor: (region) => {
      let client = made.get(region);
      if (!client) {
        client = make({
          region,
          ...(config.isCustomEndpoint && config.endpoint ? { endpoint: config.endpoint as never } : {}),
          ...(config.credentials ? { credentials: config.credentials as never } : {}),
          maxAttempts: 1,
        });
        made.set(region, client);
      }
      return client;
    },
    destroy: () => {
      for (const c of made.values()) c.destroy();
      made.clear();
    },
  };
}
