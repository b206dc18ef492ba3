/**
 * Key references as events and people give them: a key ID, a key ARN, an alias name or an
 * alias ARN. Parsing is purely syntactic: nothing here calls KMS.
 */

/** A single-Region key ID (UUID) or a multi-Region key ID (`mrk-` + 32 hex). */
const KEY_ID = /^(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$/;
const PARTITION = /^aws(?:-[a-z]+)*$/;
/**
 * A Region name in any partition: `us-east-1`, `ap-southeast-5`, `cn-north-1`, `us-gov-west-1`,
 * `us-iso-east-1`, `us-isob-east-1`, `eusc-de-east-1` (aws-eusc: four letters before the first
 * dash, which a two-letter pattern silently rejects).
 */
const REGION = /^[a-z]{2,8}(?:-[a-z]{1,16}){1,3}-\d{1,2}$/;
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

/**
 * The partition a Region belongs to. Prefixes decide, as AWS's own partition table does:
 * cn- → aws-cn, us-gov- → aws-us-gov, us-isob- → aws-iso-b, us-iso- → aws-iso, eusc- → aws-eusc;
 * anything else is the commercial partition `aws`.
 */
export function partitionOfRegion(region: string): string {
  if (region.startsWith('cn-')) return 'aws-cn';
  if (region.startsWith('us-gov-')) return 'aws-us-gov';
  if (region.startsWith('us-isob-')) return 'aws-iso-b';
  if (region.startsWith('us-isof-')) return 'aws-iso-f';
  if (region.startsWith('eu-isoe-')) return 'aws-iso-e';
  if (region.startsWith('us-iso-')) return 'aws-iso';
  if (region.startsWith('eusc-')) return 'aws-eusc';
  return 'aws';
}

/** The partition of an ARN (`arn:<partition>:...`), or undefined when it is not an ARN. */
export function partitionOfArn(arn: string): string | undefined {
  const partition = arn.split(':')[1];
  return arn.startsWith('arn:') && partition !== undefined && PARTITION.test(partition) ? partition : undefined;
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
  // An ARN whose partition is not its Region's (arn:aws-cn:kms:us-east-1:...) names no key anywhere.
  if (partition !== partitionOfRegion(region)) return undefined;
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
