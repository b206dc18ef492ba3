/**
 * Is an escrow secret encrypted under the very key whose material it holds? Such an escrow is
 * unreadable exactly when it is needed (the key is PendingImport, Secrets Manager cannot decrypt),
 * so PRODUCT.md forbids it. One rule for every place that asks: the escrow health check (sweep,
 * status, plan) reports it, the escrow write (rotation) refuses to add material to it.
 *
 * The secret's KmsKeyId, as Secrets Manager reports it, is a key ID, a key ARN, an alias name or an
 * alias ARN: an alias is resolved (ResolveAlias) to the key it names.
 */
import type { KeyReport } from '../types.js';

/**
 * What an alias (name or ARN) that encrypts an escrow secret points at:
 * - `{ keyId }`: the target key's ID;
 * - `'not-found'`: no such alias (Secrets Manager cannot decrypt the secret either);
 * - `'other-key'`: the caller may not describe the target, so it is not a key the caller can read
 *   (the service may describe every managed key, the key being checked included);
 * - `'unknown'`: the lookup failed otherwise.
 */
export type AliasTarget = { keyId: string } | 'not-found' | 'other-key' | 'unknown';
export type ResolveAlias = (alias: string) => Promise<AliasTarget>;

const KEY_ARN = /^arn:[^:]+:kms:[^:]*:[^:]*:key\/(.+)$/;
const ALIAS = /^(alias\/|arn:[^:]+:kms:[^:]*:[^:]*:alias\/)/;
/** An AWS managed key's alias (aws/secretsmanager, by name or ARN). */
export const AWS_MANAGED_ALIAS = /(^|:)alias\/aws\//;

/** `self`: the key itself; `other`: another key; `problem`: which one is unknown, and why (a sentence part). */
export type SelfEncryption = 'self' | 'other' | { problem: string };

/**
 * Whether the secret's KmsKeyId is the key itself: a key ID or key ARN is compared directly (an ARN
 * whole, since a Multi-Region key's replicas share its ID), an alias is resolved with `resolveAlias`
 * (never for an AWS managed alias: such a key never holds imported material).
 */
export async function selfEncryption(kmsKeyId: string, report: Pick<KeyReport, 'keyId' | 'arn'>, resolveAlias: ResolveAlias): Promise<SelfEncryption> {
  if (KEY_ARN.test(kmsKeyId)) return kmsKeyId === report.arn ? 'self' : 'other';
  if (!ALIAS.test(kmsKeyId)) return kmsKeyId === report.keyId ? 'self' : 'other';
  if (AWS_MANAGED_ALIAS.test(kmsKeyId)) return 'other';
  const target = await resolveAlias(kmsKeyId);
  if (target === 'other-key') return 'other';
  if (target === 'not-found') return { problem: `its KMS key alias ${kmsKeyId} points at no key, so Secrets Manager cannot decrypt it` };
  if (target === 'unknown') return { problem: `its KMS key alias ${kmsKeyId} could not be resolved (DescribeKey failed), so whether it is the key itself is unknown` };
  return target.keyId === report.keyId ? 'self' : 'other';
}
