/**
 * Key references as events and people give them: a key ID, a key ARN, an alias name or an
 * alias ARN. Parsing is purely syntactic: nothing here calls KMS.
 */

/** A single-Region key ID (UUID) or a multi-Region key ID (`mrk-` + 32 hex). */
const KEY_ID = /^(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$/;
const PARTITION = /^aws(?:-[a-z]+)*$/;
const REGION = /^[a-z]{2}(?:-[a-z]+)+-\d+$/;
const ACCOUNT = /^\d{12}$/;
/** KMS alias names: `alias/` then letters, digits, `/`, `_`, `-` (256 chars at most). */
const ALIAS = /^alias\/[A-Za-z0-9/_-]{1,250}$/;

export type ParsedKeyRef =
  | { kind: 'key-id'; keyId: string }
  | { kind: 'key-arn'; keyId: string; arn: string; partition: string; region: string; account: string }
  | { kind: 'alias'; alias: string }
  | { kind: 'alias-arn'; alias: string; arn: string; partition: string; region: string; account: string };

export function isKeyId(value: unknown): value is string {
  return typeof value === 'string' && KEY_ID.test(value);
}

export function isRegion(value: unknown): value is string {
  return typeof value === 'string' && REGION.test(value);
}

export function isAccount(value: unknown): value is string {
  return typeof value === 'string' && ACCOUNT.test(value);
}

/** Parses a key reference, or returns undefined when it is none of the four forms. */
export function parseKeyRef(ref: unknown): ParsedKeyRef | undefined {
  if (typeof ref !== 'string' || ref.length > 2048) return undefined;
  if (KEY_ID.test(ref)) return { kind: 'key-id', keyId: ref };
  if (ALIAS.test(ref)) return { kind: 'alias', alias: ref };
  if (!ref.startsWith('arn:')) return undefined;
  const parts = ref.split(':');
  if (parts.length !== 6) return undefined;
  const [, partition, service, region, account, resource] = parts as [string, string, string, string, string, string];
  if (!PARTITION.test(partition) || service !== 'kms' || !REGION.test(region) || !ACCOUNT.test(account)) {
    return undefined;
  }
  if (resource.startsWith('key/')) {
    const keyId = resource.slice('key/'.length);
    return KEY_ID.test(keyId) ? { kind: 'key-arn', keyId, arn: ref, partition, region, account } : undefined;
  }
  if (ALIAS.test(resource)) return { kind: 'alias-arn', alias: resource, arn: ref, partition, region, account };
  return undefined;
}

/** The key ID a reference names without asking KMS (IDs and key ARNs), else undefined. */
export function keyIdOf(ref: string): string | undefined {
  const parsed = parseKeyRef(ref);
  return parsed?.kind === 'key-id' || parsed?.kind === 'key-arn' ? parsed.keyId : undefined;
}
