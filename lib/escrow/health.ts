/**
 * Escrow health, for the sweep and `kms-reimport status`: does the key's escrow secret exist, is it
 * bound to the key, and is it encrypted under some other key than the key itself? Tells on-call
 * BEFORE an outage what the reimport would fail on. Only DescribeSecret: never reads a value.
 *
 * For a Multi-Region key, also: is the escrow readable in every Region that holds the key? KMS
 * replicates keys, Secrets Manager does not follow: a replica Region reads escrow from its own
 * Region, so the escrow secret must be replicated there (its ReplicationStatus).
 *
 * Two ways in: checkEscrowHealth (one key: one DescribeSecret) and, for the sweep and `status`,
 * listEscrowSecrets + checkListedEscrowHealth (every key: the ListSecrets pages under the escrow
 * prefix, read once, then DescribeSecret only for a key whose secret they did not list: a tag-named
 * secret outside the prefix, a missing one, or one created since, ListSecrets being eventually
 * consistent). Both apply the same rules to the same metadata.
 */
import {
  DescribeSecretCommand,
  ListSecretsCommand,
  type DescribeSecretCommandOutput,
  type SecretListEntry,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import type { ReimportConfig } from '../config.js';
import { awsErrorName, KmsUnavailable } from '../errors.js';
import { callWithRetry, type RetryOptions } from '../retry.js';
import type { KeyReport } from '../types.js';
import {
  escrowSecretFacts,
  escrowSecretId,
  type EscrowSecretFacts,
  foreignDefaultSecretMessage,
  mismatchedBindingMessage,
  predatesKeyMessage,
  unboundEscrowMessage,
} from './read.js';
import { AWS_MANAGED_ALIAS, selfEncryption, type ResolveAlias } from './self-encryption.js';

export type { AliasTarget, ResolveAlias } from './self-encryption.js';

/**
 * `unbound`: the secret does not prove it is this key's (a tag-named secret without the binding tag,
 * or another key's default secret). `mismatched`: the key's default secret is bound by its name but
 * its binding tag names another key (someone re-bound it: the first half of an escrow-clone attempt).
 * `unreplicated`: a Multi-Region key has a replica in a Region the escrow secret is not replicated
 * to (checked on the primary key), or a replica key's Region has no replica of the escrow secret:
 * a recovery or renewal there would find no escrow.
 */
export type EscrowHealth = 'ok' | 'missing' | 'unbound' | 'mismatched' | 'self-encrypted' | 'unreadable' | 'unreplicated';

export interface EscrowHealthResult {
  escrow: EscrowHealth;
  /** Set when `escrow` is not ok: the key, the secret and the next step. Never a value. */
  escrowReason?: string;
}

type MultiRegionFacts = Pick<KeyReport, 'multiRegion' | 'multiRegionKeyType' | 'primaryRegion' | 'replicaRegions'>;

/** The Region of a KMS key ARN. */
const regionOfArn = (arn: string): string | undefined => /^arn:[^:]+:kms:([^:]+):/.exec(arn)?.[1];

/** The fix, as the runbook would type it: replicate the escrow secret (from its own Region) to `regions`. */
function replicateCommand(secretId: string, regions: string[], secretRegion: string | undefined, kmsKeyId: string | undefined): string {
  // A customer managed key is Regional (an mrk- key aside): each replica needs a key of its own Region.
  const cmk = kmsKeyId !== undefined && !AWS_MANAGED_ALIAS.test(kmsKeyId);
  const specs = regions.map((r) => (cmk ? `Region=${r},KmsKeyId=<a KMS key in ${r}>` : `Region=${r}`)).join(' ');
  return `aws secretsmanager replicate-secret-to-regions --secret-id ${secretId} --add-replica-regions ${specs}${secretRegion !== undefined ? ` --region ${secretRegion}` : ''}`;
}

/** DescribeSecret on the escrow secret (bounded retries; a transient failure that outlasts them is KmsUnavailable). */
function describeSecret(secrets: SecretsManagerClient, secretId: string, keyId: string, retry: RetryOptions): Promise<DescribeSecretCommandOutput> {
  return callWithRetry({ service: 'Secrets Manager', operation: 'DescribeSecret', keyId }, () => secrets.send(new DescribeSecretCommand({ SecretId: secretId })), retry);
}

/**
 * For a Multi-Region PRIMARY key: the key's replica Regions the escrow secret is not replicated to
 * (DescribeSecret's ReplicationStatus; InSync or InProgress counts as replicated, Failed does not).
 * `described` is the DescribeSecret answer the check already has (checkEscrowHealth); without it
 * (a ListSecrets entry, which carries no ReplicationStatus) DescribeSecret is asked here, only for
 * Multi-Region primary keys with replicas whose escrow is otherwise healthy. Undefined when every
 * replica Region has the escrow.
 */
async function replicationGap(
  secrets: SecretsManagerClient,
  report: Pick<KeyReport, 'keyId' | 'arn'> & MultiRegionFacts,
  secretId: string,
  kmsKeyId: string | undefined,
  retry: RetryOptions,
  described: DescribeSecretCommandOutput | undefined,
): Promise<EscrowHealthResult | undefined> {
  const keyId = report.keyId;
  const replicaRegions = report.replicaRegions ?? [];
  if (!report.multiRegion || report.multiRegionKeyType !== 'PRIMARY' || replicaRegions.length === 0) return undefined;
  let out: DescribeSecretCommandOutput | undefined = described;
  try {
    out ??= await describeSecret(secrets, secretId, keyId, retry);
  } catch (e) {
    const what = e instanceof KmsUnavailable ? 'kept failing (transient errors)' : `failed with ${awsErrorName(e) ?? (e instanceof Error ? e.name : 'an unknown error')}`;
    return {
      escrow: 'unreadable',
      escrowReason: `Escrow secret ${secretId} for Multi-Region key ${keyId}: its replication could not be checked (DescribeSecret ${what}); the next sweep checks again.`,
    };
  }
  const keyRegion = regionOfArn(report.arn) ?? report.primaryRegion;
  const secretRegion = out?.PrimaryRegion ?? keyRegion;
  const covered = new Set<string>([keyRegion, secretRegion].filter((r): r is string => r !== undefined));
  const failed = new Map<string, string>();
  for (const status of out?.ReplicationStatus ?? []) {
    if (status.Region === undefined) continue;
    if (status.Status === 'InSync' || status.Status === 'InProgress') covered.add(status.Region);
    else failed.set(status.Region, status.StatusMessage ?? status.Status ?? 'no status');
  }
  const missing = replicaRegions.filter((r) => !covered.has(r));
  if (missing.length === 0) return undefined;
  const failures = missing.filter((r) => failed.has(r)).map((r) => `${r}: replication Failed, "${failed.get(r)}"`);
  return {
    escrow: 'unreplicated',
    escrowReason:
      `Escrow secret ${secretId} for Multi-Region key ${keyId} is not replicated to ${missing.join(', ')}, where the key has replicas` +
      `${failures.length > 0 ? ` (${failures.join('; ')})` : ''}: a recovery or renewal of the replica there would find no escrow ` +
      `(Secrets Manager does not follow KMS; each Region reads escrow from its own Region). Replicate it: ` +
      `${replicateCommand(secretId, missing, secretRegion, kmsKeyId)}.`,
  };
}

type EscrowReport = Pick<KeyReport, 'keyId' | 'arn' | 'tags' | 'creationDate'> & Partial<MultiRegionFacts>;
const OUTCOME = 'A reimport of this key would fail until then.';

/**
 * The health of a key's escrow from its secret's metadata (DescribeSecret or ListSecrets);
 * `described`: the DescribeSecret answer the facts come from, when they do.
 */
async function healthFromFacts(
  facts: EscrowSecretFacts,
  secrets: SecretsManagerClient,
  report: EscrowReport,
  retry: RetryOptions,
  resolveAlias: ResolveAlias,
  described?: DescribeSecretCommandOutput,
): Promise<EscrowHealthResult> {
  const keyId = report.keyId;
  const secretId = facts.secretId;
  const outcome = OUTCOME;
  if (facts.deleted) {
    return {
      escrow: 'missing',
      escrowReason:
        `Escrow secret ${secretId} for key ${keyId} is scheduled for deletion: restore it now ` +
        `(aws secretsmanager restore-secret --secret-id ${secretId}). ${outcome}`,
    };
  }
  if (facts.foreignDefaultOf !== undefined) {
    return { escrow: 'unbound', escrowReason: foreignDefaultSecretMessage(secretId, facts.foreignDefaultOf, keyId, outcome) };
  }
  if (facts.predatesKey !== undefined) return { escrow: 'unbound', escrowReason: predatesKeyMessage(secretId, keyId, facts.predatesKey, outcome) };
  if (!facts.bound) return { escrow: 'unbound', escrowReason: unboundEscrowMessage(secretId, keyId, outcome) };
  if (facts.taggedFor !== undefined) {
    return { escrow: 'mismatched', escrowReason: mismatchedBindingMessage(secretId, facts.taggedFor, keyId, 'Recovery of this key still uses it (its name binds it).') };
  }
  if (facts.kmsKeyId) {
    const self = await selfEncryption(facts.kmsKeyId, report, resolveAlias);
    if (self === 'self') {
      return {
        escrow: 'self-encrypted',
        escrowReason:
          `Escrow secret ${secretId} for key ${keyId} is encrypted under key ${keyId} itself (KmsKeyId ${facts.kmsKeyId}): ` +
          `it cannot be read once the key is down, exactly when it is needed. Re-encrypt it under another key ` +
          `(aws secretsmanager update-secret --secret-id ${secretId} --kms-key-id <other key>) while key ${keyId} still works.`,
      };
    }
    if (self !== 'other') {
      return {
        escrow: 'unreadable',
        escrowReason: `Escrow secret ${secretId} for key ${keyId}: ${self.problem}. Check the secret's KMS key (aws secretsmanager describe-secret --secret-id ${secretId}).`,
      };
    }
  }
  const gap = await replicationGap(secrets, { multiRegion: false, ...report }, secretId, facts.kmsKeyId, retry, described);
  if (gap !== undefined) return gap;
  return { escrow: 'ok' };
}

/** Checks one managed key's escrow secret with DescribeSecret. Never throws: a failure is `unreadable`. */
export async function checkEscrowHealth(
  secrets: SecretsManagerClient,
  report: EscrowReport,
  config: Pick<ReimportConfig, 'escrowTagKey' | 'escrowPrefix'>,
  retry: RetryOptions,
  resolveAlias: ResolveAlias,
): Promise<EscrowHealthResult> {
  const keyId = report.keyId;
  const secretId = escrowSecretId(report, config);
  const outcome = OUTCOME;
  try {
    // One DescribeSecret: its answer gives the binding facts and, for a Multi-Region primary, the replication.
    const described = await describeSecret(secrets, secretId, keyId, retry);
    return await healthFromFacts(escrowSecretFacts(secretId, described, report, config), secrets, report, retry, resolveAlias, described);
  } catch (e) {
    const code = e instanceof KmsUnavailable ? undefined : awsErrorName(e);
    const here = regionOfArn(report.arn);
    if (code === 'ResourceNotFoundException' && report.multiRegion === true && report.multiRegionKeyType === 'REPLICA' && report.primaryRegion !== undefined && here !== undefined) {
      return {
        escrow: 'unreplicated',
        escrowReason:
          `No escrow secret ${secretId} in ${here} for key ${keyId}, a replica of a Multi-Region key whose primary is in ${report.primaryRegion}: ` +
          `a recovery or renewal of this replica would find no escrow (Secrets Manager does not follow KMS; each Region reads escrow from its own Region). ` +
          `Replicate the primary Region's escrow secret here: ${replicateCommand(secretId, [here], report.primaryRegion, undefined)} ` +
          `(if the primary Region has none either, see the primary key's status). ${outcome}`,
      };
    }
    if (code === 'ResourceNotFoundException') {
      return {
        escrow: 'missing',
        escrowReason:
          `No escrow secret ${secretId} for key ${keyId}. Create it with the key's ORIGINAL material from your offline copy ` +
          `(aws secretsmanager create-secret --name ${secretId} --secret-binary fileb://PlaintextKeyMaterial.bin), ` +
          `or point the key's escrow tag at the secret that holds it. ${outcome}`,
      };
    }
    const what = e instanceof KmsUnavailable ? 'kept failing (transient errors)' : `failed with ${code ?? (e instanceof Error ? e.name : 'an unknown error')}`;
    const next =
      code === 'AccessDeniedException'
        ? `grant secretsmanager:DescribeSecret on it (the sweep may describe secrets under ${config.escrowPrefix} only: a tag-named escrow must live there)`
        : 'check the secret and Secrets Manager, the next sweep checks again';
    return { escrow: 'unreadable', escrowReason: `Escrow secret ${secretId} for key ${keyId} could not be described: DescribeSecret ${what}; ${next}.` };
  }
}

/** The escrow secrets ListSecrets listed, by name and by ARN. */
export interface EscrowListing {
  byName: ReadonlyMap<string, SecretListEntry>;
  byArn: ReadonlyMap<string, SecretListEntry>;
  /** ListSecrets pages read. */
  pages: number;
}

/**
 * Every secret whose name starts with the escrow prefix, scheduled deletions included (ListSecrets,
 * Filters name = prefix, IncludePlannedDeletion, 100 a page). Undefined when ListSecrets cannot be
 * used (not allowed, or kept failing): then every key is checked with DescribeSecret, as before.
 */
export async function listEscrowSecrets(
  secrets: SecretsManagerClient,
  config: Pick<ReimportConfig, 'escrowPrefix'>,
  retry: RetryOptions,
): Promise<EscrowListing | undefined> {
  const byName = new Map<string, SecretListEntry>();
  const byArn = new Map<string, SecretListEntry>();
  let pages = 0;
  let token: string | undefined;
  try {
    do {
      const out = await callWithRetry(
        { service: 'Secrets Manager', operation: 'ListSecrets', keyId: `(escrow secrets under ${config.escrowPrefix})` },
        () =>
          secrets.send(
            new ListSecretsCommand({
              Filters: [{ Key: 'name', Values: [config.escrowPrefix] }],
              IncludePlannedDeletion: true,
              MaxResults: 100,
              ...(token ? { NextToken: token } : {}),
            }),
          ),
        retry,
      );
      pages++;
      for (const entry of out?.SecretList ?? []) {
        if (entry.Name !== undefined) byName.set(entry.Name, entry);
        if (entry.ARN !== undefined) byArn.set(entry.ARN, entry);
      }
      token = out?.NextToken || undefined;
    } while (token);
  } catch {
    return undefined;
  }
  return { byName, byArn, pages };
}

/**
 * A managed key's escrow health from the listing: the same rules as checkEscrowHealth over the
 * secret's ListSecrets entry; DescribeSecret (checkEscrowHealth) only when the listing lacks it.
 * Never throws.
 */
export async function checkListedEscrowHealth(
  listing: EscrowListing | undefined,
  secrets: SecretsManagerClient,
  report: EscrowReport,
  config: Pick<ReimportConfig, 'escrowTagKey' | 'escrowPrefix'>,
  retry: RetryOptions,
  resolveAlias: ResolveAlias,
): Promise<EscrowHealthResult> {
  const secretId = escrowSecretId(report, config);
  const entry = listing?.byName.get(secretId) ?? listing?.byArn.get(secretId);
  if (entry === undefined) return checkEscrowHealth(secrets, report, config, retry, resolveAlias);
  return healthFromFacts(escrowSecretFacts(secretId, entry, report, config), secrets, report, retry, resolveAlias);
}
