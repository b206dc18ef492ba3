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
import { DescribeSecretCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { ReimportConfig } from '../config.js';
import { EscrowNotReplicated } from '../errors.js';
import { escrowSecretId } from '../escrow/read.js';
import { callWithRetry, type RetryOptions } from '../retry.js';
import type { KeyReport } from '../types.js';

/** A KMS client for a Region (the same endpoint and credentials as the run's client). */
export type KmsFor = (region: string) => KMSClient;

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
    return (
      `Key ${report.keyId} in ${regionOfKeyArn(report.arn) ?? 'this Region'} is a replica of a Multi-Region key: rotate its primary ${primary} ` +
      `(kms-reimport rotate ${report.keyId} --region ${primary}); a rotation of the primary brings the new material to every replica. Nothing was done.`
    );
  }
  if (report.multiRegionKeyType !== 'PRIMARY') {
    return `Key ${report.keyId} is a Multi-Region key and KMS did not say whether it is the primary or a replica (MultiRegionConfiguration); nothing was done. Check the key, then run again.`;
  }
  return undefined;
}

/**
 * Refuses (EscrowNotReplicated) unless the escrow secret is readable in every replica Region: its
 * DescribeSecret ReplicationStatus shows the Region InSync. InProgress is not yet readable there,
 * Failed or absent is not replicated. One DescribeSecret, no value read. Called before anything is
 * imported into KMS.
 */
export async function checkEscrowReplicated(secrets: SecretsManagerClient, report: KeyReport, config: ReimportConfig, retry: RetryOptions): Promise<void> {
  const regions = replicaRegionsOf(report);
  if (regions.length === 0) return;
  const secretId = escrowSecretId(report, config);
  const out = await callWithRetry(
    { service: 'Secrets Manager', operation: 'DescribeSecret', keyId: report.keyId },
    () => secrets.send(new DescribeSecretCommand({ SecretId: secretId })),
    retry,
  );
  const status = new Map((out?.ReplicationStatus ?? []).filter((s) => s.Region !== undefined).map((s) => [s.Region as string, s]));
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
  throw new EscrowNotReplicated(
    `Escrow secret ${secretId} of Multi-Region key ${report.keyId} is not readable in ${missing.join(', ')}, where the key has replicas (${why}): a rotation would ` +
      `import material there that recovery in that Region could not read back. Nothing was imported into KMS. Replicate it: ` +
      `aws secretsmanager replicate-secret-to-regions --secret-id ${secretId} --add-replica-regions ${missing.map((r) => `Region=${r}`).join(' ')}` +
      `${secretRegion ? ` --region ${secretRegion}` : ''} (a customer managed escrow key needs KmsKeyId=<a KMS key in that Region> for each), wait until its ` +
      `ReplicationStatus is InSync, then run the rotation again.`,
    { keyId: report.keyId },
  );
}

/**
 * A KmsFor that makes (and caches) a client per Region with the endpoint and credentials of `kms`;
 * `destroy` closes the clients it made. For callers that gave no factory of their own.
 */
export function regionalKmsClients(kms: KMSClient): { kmsFor: KmsFor; destroy(): void } {
  const made = new Map<string, KMSClient>();
  const config = kms.config as { endpoint?: unknown; credentials?: unknown; isCustomEndpoint?: boolean; maxAttempts?: unknown };
  return {
    kmsFor: (region) => {
      let client = made.get(region);
      if (!client) {
        client = new KMSClient({
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
