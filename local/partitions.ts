/**
 * AWS partitions and their Regions, as the endpoint needs them: which Region names a SigV4 scope
 * may carry, and which partition an ARN of a Region starts with (`arn:PARTITION:service:REGION:...`).
 * The one place local/ decides either; local/ does not import lib/ (it is lib/'s third party).
 *
 * Partitions (the AWS SDK's partitions.json, 2026): `aws` (us-east-1, ap-southeast-5, ...),
 * `aws-cn` (cn-north-1, cn-northwest-1), `aws-us-gov` (us-gov-west-1, us-gov-east-1), `aws-iso`
 * (us-iso-east-1), `aws-iso-b` (us-isob-east-1), `aws-iso-e` (eu-isoe-west-1), `aws-iso-f`
 * (us-isof-south-1) and `aws-eusc`, the European Sovereign Cloud (eusc-de-east-1, live since
 * January 2026). A Region name is `<area>-<part>[-<part>...]-<number>`, where the area is not
 * always two letters (`eusc`).
 */

export type Partition = 'aws' | 'aws-cn' | 'aws-us-gov' | 'aws-iso' | 'aws-iso-b' | 'aws-iso-e' | 'aws-iso-f' | 'aws-eusc';

export const PARTITIONS: readonly Partition[] = Object.freeze(['aws', 'aws-cn', 'aws-us-gov', 'aws-iso', 'aws-iso-b', 'aws-iso-e', 'aws-iso-f', 'aws-eusc']);

/** A Region name of any partition: `us-east-1`, `cn-north-1`, `us-gov-west-1`, `us-isob-east-1`, `eusc-de-east-1`. */
export const REGION_PATTERN = /^[a-z]{2,8}(-[a-z]+)+-\d{1,2}$/;

/** Region prefixes of the partitions other than `aws`, longest first (`us-isob-` before `us-iso-`). */
const PREFIXES: readonly (readonly [string, Partition])[] = [
  ['us-isob-', 'aws-iso-b'],
  ['us-isof-', 'aws-iso-f'],
  ['eu-isoe-', 'aws-iso-e'],
  ['us-iso-', 'aws-iso'],
  ['us-gov-', 'aws-us-gov'],
  ['eusc-', 'aws-eusc'],
  ['cn-', 'aws-cn'],
];

export function isRegion(value: string): boolean {
  return REGION_PATTERN.test(value);
}

/** The partition of a Region; every Region outside the other partitions is in `aws`. */
export function partitionOf(region: string): Partition {
  for (const [prefix, partition] of PREFIXES) if (region.startsWith(prefix)) return partition;
  return 'aws';
}

export function isPartition(value: string): value is Partition {
  return (PARTITIONS as readonly string[]).includes(value);
}

/** `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE` with the partition of the Region. */
export function arnFor(service: string, region: string, account: string, resource: string): string {
  return `arn:${partitionOf(region)}:${service}:${region}:${account}:${resource}`;
}

/** A global resource's ARN (no Region, e.g. IAM) in the partition of the caller's Region. */
export function globalArnFor(service: string, region: string, account: string, resource: string): string {
  return `arn:${partitionOf(region)}:${service}::${account}:${resource}`;
}

/** The pattern of an ARN's partition field: one of PARTITIONS. */
export const PARTITION_SOURCE = `(${PARTITIONS.map((p) => p.replace(/-/g, '\\-')).join('|')})`;
