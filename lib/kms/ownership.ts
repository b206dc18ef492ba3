/**
 * "Is this key ours?" for a key the service may not read. The service's roles may read only keys
 * that carry the managed tag, so KMS answers AccessDeniedException for every other key: an
 * EventBridge rule that fires for every EXTERNAL key in the account would otherwise end in a
 * failed run (and an alarm) for each key that is not ours. The Resource Groups Tagging API
 * (tag:GetResources, no per-key permission) tells which: a key listed with the managed tag is
 * ours and unreadable (a key policy problem: fail loudly); a key listed without it, or not listed
 * at all (GetResources lists only tagged resources), is not managed (skipped, no alarm).
 */
import { GetResourcesCommand, type ResourceGroupsTaggingAPIClient } from '@aws-sdk/client-resource-groups-tagging-api';
import type { ReimportConfig } from '../config.js';
import { KeyNotReadable } from '../errors.js';
import { parseKeyRef, partitionOfRegion } from '../events/key-ref.js';
import { withRetry, type RetryOptions } from '../retry.js';

export type Ownership = 'managed' | 'not-managed' | 'unknown';

/** Where the service runs: turns a bare key ID into the key's ARN. */
export interface OwnScope {
  region: string;
  account: string;
  partition?: string;
}

/** The key's ARN from a key ID or key ARN (aliases: undefined, their key is unknown without DescribeKey). */
export function keyArnFor(keyRef: string, scope: OwnScope | undefined): string | undefined {
  const parsed = parseKeyRef(keyRef);
  if (parsed?.kind === 'key-arn') return parsed.arn;
  if (parsed?.kind !== 'key-id' || scope === undefined) return undefined;
  return `arn:${scope.partition ?? partitionOfRegion(scope.region)}:kms:${scope.region}:${scope.account}:key/${parsed.keyId}`;
}

/** Whether the Tagging API shows the key with the managed tag; 'unknown' when it cannot be asked or fails. */
export async function ownershipByTags(
  tagging: ResourceGroupsTaggingAPIClient | undefined,
  keyArn: string | undefined,
  config: Pick<ReimportConfig, 'managedTagKey' | 'managedTagValue'>,
  retry: RetryOptions,
): Promise<Ownership> {
  if (tagging === undefined || keyArn === undefined) return 'unknown';
  try {
    const out = await withRetry(() => tagging.send(new GetResourcesCommand({ ResourceARNList: [keyArn] })), retry);
    const mapping = (out?.ResourceTagMappingList ?? []).find((r) => r.ResourceARN === keyArn);
    const managed = (mapping?.Tags ?? []).some((t) => t.Key === config.managedTagKey && t.Value === config.managedTagValue);
    return managed ? 'managed' : 'not-managed';
  } catch {
    return 'unknown';
  }
}

/**
 * What to do with a KeyNotReadable: `skip` with the reason for a key the Tagging API shows is not
 * managed; otherwise a KeyNotReadable whose message says what was found and what to fix.
 */
export async function explainUnreadable(
  error: KeyNotReadable,
  keyRef: string,
  deps: { tagging?: ResourceGroupsTaggingAPIClient; scope?: OwnScope },
  config: Pick<ReimportConfig, 'managedTagKey' | 'managedTagValue'>,
  retry: RetryOptions,
): Promise<{ skip: string } | { fail: KeyNotReadable }> {
  const arn = keyArnFor(keyRef, deps.scope);
  const ownership = await ownershipByTags(deps.tagging, arn, config, retry);
  const tag = `${config.managedTagKey}=${config.managedTagValue}`;
  if (ownership === 'not-managed') {
    return {
      skip:
        `Key ${keyRef} is not managed by kms-reimport: the service may not read it (AccessDeniedException) and the Tagging API shows it without ` +
        `the tag ${tag}. It is reported, never changed. To opt it in, tag it (aws kms tag-resource --key-id ${keyRef} --tags TagKey=${config.managedTagKey},TagValue=${config.managedTagValue}).`,
    };
  }
  if (ownership === 'managed') {
    return {
      fail: new KeyNotReadable(
        `Key ${keyRef} carries the managed tag ${tag}, but kms-reimport may not read it (AccessDeniedException): its key policy most likely does not ` +
          `let the account's IAM policies work (the default key policy does), or a tag change has not reached authorisation yet (up to 5 minutes). ` +
          `Fix the key policy (aws kms get-key-policy --key-id ${keyRef} --policy-name default), then run again. Nothing was changed.`,
        { keyId: keyRef, cause: error },
      ),
    };
  }
  return {
    fail: new KeyNotReadable(
      `${error.message} Whether it is managed could not be told${arn === undefined ? ' (an alias names no key without DescribeKey: pass the key ID or ARN)' : ' (the Tagging API did not answer)'}, ` +
        `so this is reported as a failure. If the key should be managed, check its tag ${tag} and its key policy; nothing was changed.`,
      { keyId: keyRef, cause: error },
    ),
  };
}
