/**
 * The emulated Secrets Manager's state: secrets per account and Region, their versions and
 * staging labels. Plain JSON-serialisable objects, so snapshot() is a copy.
 */
import { randomInt } from 'node:crypto';
import { arnFor } from '../partitions.js';
import type { RequestScope } from '../service.js';

export const CURRENT = 'AWSCURRENT';
export const PREVIOUS = 'AWSPREVIOUS';
/** The AWS managed key Secrets Manager uses when a secret names none. */
export const DEFAULT_KEY = 'alias/aws/secretsmanager';

export interface SecretVersion {
  versionId: string;
  /** Exactly one of the two is set. */
  secretString?: string;
  /** Base64 of the bytes. */
  secretBinary?: string;
  stages: string[];
  /** ms since the epoch (endpoint clock). */
  createdDate: number;
  lastAccessedDate?: number;
  /** The KMS key the version was written under (the secret's KmsKeyId then), if one was named. */
  kmsKeyId?: string;
}

export interface Secret {
  arn: string;
  name: string;
  account: string;
  region: string;
  description?: string;
  kmsKeyId?: string;
  tags: { Key: string; Value: string }[];
  /** In creation order. */
  versions: SecretVersion[];
  createdDate: number;
  lastChangedDate: number;
  lastAccessedDate?: number;
  /** When DeleteSecret was called (ms); set while the secret is scheduled for deletion. */
  deletedDate?: number;
  /** When the secret goes for good (ms); set with deletedDate. */
  deletionDate?: number;
  /** On a primary secret: its replicas (and failed attempts), in the order they were added. */
  replicas?: ReplicaStatus[];
  /**
   * On a replica secret: the Region of its primary. A replica is a read-only copy kept in step
   * with its primary (every version, the description and the tags follow).
   */
  primaryRegion?: string;
}

/** One Region of a primary secret's replication, as DescribeSecret's ReplicationStatus shows it. */
export interface ReplicaStatus {
  region: string;
  /** The KMS key (in the replica Region) the replica is encrypted under; absent = aws/secretsmanager. */
  kmsKeyId?: string;
  /** The emulation replicates at once: a replica is InSync, or it Failed (and was not created). */
  status: 'InSync' | 'Failed';
  statusMessage: string;
}

const SUFFIX_ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

export function secretArn(scope: RequestScope, name: string): string {
  let suffix = '';
  for (let i = 0; i < 6; i++) suffix += SUFFIX_ALPHABET[randomInt(SUFFIX_ALPHABET.length)];
  return arnFor('secretsmanager', scope.region, scope.account, `secret:${name}-${suffix}`);
}

export function scopeKey(scope: RequestScope): string {
  return `${scope.account}/${scope.region}`;
}

/** Midnight UTC of the day: Secrets Manager records access dates to the day. */
export function dayOf(ms: number): number {
  return Math.floor(ms / 86_400_000) * 86_400_000;
}

export function sameValue(version: SecretVersion, value: { secretString?: string; secretBinary?: string }): boolean {
  return version.secretString === value.secretString && version.secretBinary === value.secretBinary;
}

export function versionByStage(secret: Secret, stage: string): SecretVersion | undefined {
  return secret.versions.find((v) => v.stages.includes(stage));
}

/**
 * Attaches `stages` to `target`, taking each from whichever version had it. When AWSCURRENT
 * moves, the version that had it gets AWSPREVIOUS (taken from its previous holder), as
 * PutSecretValue and UpdateSecret do.
 */
export function moveStages(secret: Secret, target: SecretVersion, stages: string[]): void {
  const formerCurrent = versionByStage(secret, CURRENT);
  for (const stage of stages) {
    for (const version of secret.versions) {
      if (version !== target) version.stages = version.stages.filter((s) => s !== stage);
    }
    if (!target.stages.includes(stage)) target.stages.push(stage);
  }
  if (stages.includes(CURRENT) && formerCurrent && formerCurrent !== target) {
    for (const version of secret.versions) version.stages = version.stages.filter((s) => s !== PREVIOUS);
    formerCurrent.stages.push(PREVIOUS);
  }
}
