/**
 * The emulated Resource Groups Tagging API (`ResourceGroupsTaggingAPI_20170126.*`, signing name
 * `tagging`): GetResources, GetTagKeys and GetTagValues over every registered
 * TaggedResourceSource (the KMS keys and the secrets of the caller's account and Region).
 * Like the real API it lists only resources that carry at least one tag. A listing is built once per
 * walk through its pages (local/listing.ts), in ARN order.
 */
import { ServiceError, type EmulatedService, type OperationContext, type TaggedResource, type TaggedResourceSource } from './service.js';
import { InputReader } from './input.js';
import type { ErrorConventions } from './server.js';
import { ListingWalks } from './listing.js';
import { taggingAuthorizationChecks } from './iam/contexts.js';

export type TaggingService = EmulatedService & { readonly errorConventions: Partial<ErrorConventions> };

const invalidParameter = (message: string): ServiceError => new ServiceError('InvalidParameterException', message);
const invalidToken = (): ServiceError => invalidParameter('PaginationToken is not one this endpoint issued for this query; start again without it.');

/** `kms` matches every KMS resource type, `kms:key` only keys. */
function matchesType(resourceType: string, filters: string[] | undefined): boolean {
  if (!filters || filters.length === 0) return true;
  return filters.some((f) => (f.includes(':') ? resourceType === f : resourceType.startsWith(`${f}:`)));
}

export function createTaggingService(sources: () => TaggedResourceSource[]): TaggingService {
  /** Every tagged resource of the caller's account and Region whose type passes the filters (unordered). */
  const collect = (ctx: OperationContext, typeFilters?: string[]): TaggedResource[] => {
    const now = ctx.clock.now();
    const out: TaggedResource[] = [];
    for (const source of sources()) {
      if (!matchesType(source.resourceType, typeFilters)) continue;
      for (const r of source.taggedResources(ctx.scope, now)) if (Object.keys(r.tags).length > 0) out.push(r);
    }
    return out;
  };
  const byArn = (a: TaggedResource, b: TaggedResource): number => (a.resourceArn < b.resourceArn ? -1 : a.resourceArn > b.resourceArn ? 1 : 0);

  const resourceWalks = new ListingWalks<TaggedResource>((r) => r.resourceArn);
  const nameWalks = new ListingWalks<string>((name) => name);
  /** The scope is part of every query: a token is only good in the account and Region it was issued in. */
  const scoped = (ctx: OperationContext, query: string): string => `${ctx.scope.account}/${ctx.scope.region}:${query}`;

  type Operation = (r: InputReader, ctx: OperationContext, raw: Record<string, unknown>) => Record<string, unknown>;
  const operations: Record<string, Operation> = {
    GetResources(r, ctx, raw) {
      const tagFilters =
        r.optionalList('TagFilters', (f) => ({ key: f.string('Key', { max: 128 }), values: f.optionalStringList('Values', { maxItems: 20, maxLength: 256 }) }), {
          maxItems: 50,
        }) ?? [];
      const typeFilters = r.optionalStringList('ResourceTypeFilters', { maxItems: 100, maxLength: 256 });
      for (const filter of typeFilters ?? []) {
        if (!/^[a-z0-9-]+(:[A-Za-z0-9-]+)?$/.test(filter)) {
          throw invalidParameter(`ResourceTypeFilters entry ${JSON.stringify(filter)} is not of the form service[:resourceType], e.g. kms:key.`);
        }
      }
      const arnList = r.optionalStringList('ResourceARNList', { maxItems: 100, maxLength: 1011 });
      const perPage = r.optionalInteger('ResourcesPerPage', { min: 1, max: 100 }) ?? 50;
      r.optionalInteger('TagsPerPage', { min: 100, max: 500 });
      r.optionalBoolean('IncludeComplianceDetails');
      r.optionalBoolean('ExcludeCompliantResources');
      const query = JSON.stringify([raw.TagFilters ?? null, raw.ResourceTypeFilters ?? null, raw.ResourceARNList ?? null, perPage]);
      const arns = arnList ? new Set(arnList) : undefined;
      const matching = (): TaggedResource[] =>
        collect(ctx, typeFilters)
          .filter((res) => !arns || arns.has(res.resourceArn))
          .filter((res) =>
            tagFilters.every(({ key, values }) => key in res.tags && (!values || values.length === 0 || values.includes(res.tags[key] as string))),
          )
          .sort(byArn);
      const { items, next } = resourceWalks.page(scoped(ctx, query), r.optionalString('PaginationToken'), perPage, matching, invalidToken);
      return {
        PaginationToken: next ?? '',
        ResourceTagMappingList: items.map((res) => ({ ResourceARN: res.resourceArn, Tags: Object.entries(res.tags).map(([Key, Value]) => ({ Key, Value })) })),
      };
    },

    GetTagKeys(r, ctx) {
      const keys = (): string[] => [...new Set(collect(ctx).flatMap((res) => Object.keys(res.tags)))].sort();
      const { items, next } = nameWalks.page(scoped(ctx, 'keys'), r.optionalString('PaginationToken'), 100, keys, invalidToken);
      return { PaginationToken: next ?? '', TagKeys: items };
    },

    GetTagValues(r, ctx) {
      const key = r.string('Key', { max: 128 });
      const values = (): string[] => [...new Set(collect(ctx).flatMap((res) => (key in res.tags ? [res.tags[key] as string] : [])))].sort();
      const { items, next } = nameWalks.page(scoped(ctx, `values:${key}`), r.optionalString('PaginationToken'), 100, values, invalidToken);
      return { PaginationToken: next ?? '', TagValues: items };
    },
  };

  return {
    targetPrefix: 'ResourceGroupsTaggingAPI_20170126',
    signingName: 'tagging',
    errorConventions: { unknownOperation: 'UnknownOperationException', internal: 'InternalServiceException', throttling: 'ThrottledException' },
    operations: () => Object.keys(operations),
    async handle(operation, input, ctx) {
      const run = operations[operation];
      if (!run) throw new ServiceError('UnknownOperationException', `Operation ${operation} is not implemented by the local endpoint (tagging)`);
      return run(new InputReader(input, 'InvalidParameterException'), ctx, input);
    },
    authorizationContext: () => taggingAuthorizationChecks(),
    snapshot: () => ({}),
    restore: () => {},
  };
}
