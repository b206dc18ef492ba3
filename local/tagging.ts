/**
 * The emulated Resource Groups Tagging API (`ResourceGroupsTaggingAPI_20170126.*`, signing name
 * `tagging`): GetResources, GetTagKeys and GetTagValues over every registered
 * TaggedResourceSource (the KMS keys and the secrets of the caller's account and Region).
 * Like the real API it lists only resources that carry at least one tag.
 */
import { ServiceError, type EmulatedService, type OperationContext, type TaggedResource, type TaggedResourceSource } from './service.js';
import { InputReader } from './input.js';
import type { ErrorConventions } from './server.js';
import { taggingAuthorizationChecks } from './iam/contexts.js';

export type TaggingService = EmulatedService & { readonly errorConventions: Partial<ErrorConventions> };

const invalidParameter = (message: string): ServiceError => new ServiceError('InvalidParameterException', message);

function encodeToken(offset: number, query: string): string {
  return Buffer.from(JSON.stringify({ o: offset, q: query })).toString('base64');
}

function decodeToken(token: string | undefined, query: string): number {
  if (token === undefined || token === '') return 0;
  try {
    const { o, q } = JSON.parse(Buffer.from(token, 'base64').toString('utf8')) as { o: unknown; q: unknown };
    if (typeof o === 'number' && Number.isInteger(o) && o >= 0 && q === query) return o;
  } catch {
    // fall through
  }
  throw invalidParameter('PaginationToken is not one this endpoint issued for this query; start again without it.');
}

/** `kms` matches every KMS resource type, `kms:key` only keys. */
function matchesType(resourceType: string, filters: string[] | undefined): boolean {
  if (!filters || filters.length === 0) return true;
  return filters.some((f) => (f.includes(':') ? resourceType === f : resourceType.startsWith(`${f}:`)));
}

export function createTaggingService(sources: () => TaggedResourceSource[]): TaggingService {
  const collect = (ctx: OperationContext, typeFilters?: string[]): (TaggedResource & { resourceType: string })[] =>
    sources()
      .filter((source) => matchesType(source.resourceType, typeFilters))
      .flatMap((source) => source.taggedResources(ctx.scope).map((r) => ({ ...r, resourceType: source.resourceType })))
      .filter((r) => Object.keys(r.tags).length > 0)
      .sort((a, b) => (a.resourceArn < b.resourceArn ? -1 : a.resourceArn > b.resourceArn ? 1 : 0));

  const pageOf = <T>(items: T[], start: number, size: number, query: string): { items: T[]; PaginationToken: string } => {
    const next = start + size;
    return { items: items.slice(start, next), PaginationToken: next < items.length ? encodeToken(next, query) : '' };
  };

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
      const start = decodeToken(r.optionalString('PaginationToken'), query);
      const matching = collect(ctx, typeFilters)
        .filter((res) => !arnList || arnList.includes(res.resourceArn))
        .filter((res) =>
          tagFilters.every(({ key, values }) => key in res.tags && (!values || values.length === 0 || values.includes(res.tags[key] as string))),
        );
      const { items, PaginationToken } = pageOf(matching, start, perPage, query);
      return {
        PaginationToken,
        ResourceTagMappingList: items.map((res) => ({ ResourceARN: res.resourceArn, Tags: Object.entries(res.tags).map(([Key, Value]) => ({ Key, Value })) })),
      };
    },

    GetTagKeys(r, ctx) {
      const keys = [...new Set(collect(ctx).flatMap((res) => Object.keys(res.tags)))].sort();
      const { items, PaginationToken } = pageOf(keys, decodeToken(r.optionalString('PaginationToken'), 'keys'), 100, 'keys');
      return { PaginationToken, TagKeys: items };
    },

    GetTagValues(r, ctx) {
      const key = r.string('Key', { max: 128 });
      const values = [...new Set(collect(ctx).flatMap((res) => (key in res.tags ? [res.tags[key] as string] : [])))].sort();
      const query = `values:${key}`;
      const { items, PaginationToken } = pageOf(values, decodeToken(r.optionalString('PaginationToken'), query), 100, query);
      return { PaginationToken, TagValues: items };
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
