/**
 * The emulated AWS Secrets Manager (`secretsmanager.*`, awsJson1_1): the operations an escrow
 * of key material needs, with Secrets Manager's errors and version-stage rules. Values are kept
 * in memory (and in the state file, in the clear, when the endpoint persists).
 *
 * A secret that names a KMS key (KmsKeyId) is written and read only while that key is usable in
 * the emulated KMS (Enabled, symmetric): otherwise EncryptionFailure / DecryptionFailure, as
 * Secrets Manager answers when its KMS key is disabled, pending import or pending deletion.
 *
 * Replication (ReplicateSecretToRegions, CreateSecret's AddReplicaRegions): a replica is a secret
 * of the same name in the replica Region, with the primary's ARN in that Region, read-only
 * (writes answer InvalidRequestException, as Secrets Manager does) and kept in step with its
 * primary at once: every new version, the description and the tags follow. Its value is
 * decrypted in its own Region under its own KmsKeyId.
 */
import { randomUUID } from 'node:crypto';
import { ServiceError, type EmulatedService, type OperationContext, type RequestScope, type TaggedResource, type TaggedResourceSource } from '../service.js';
import { arnFor, isRegion, partitionOf } from '../partitions.js';
import { secretsManagerAuthorizationChecks, type SecretsManagerLookups } from '../iam/contexts.js';
import { epochSeconds, InputReader } from '../input.js';
import type { ErrorConventions } from '../server.js';
import { ListingWalks } from '../listing.js';
import { CURRENT, DEFAULT_KEY, dayOf, moveStages, sameValue, scopeKey, secretArn, type ReplicaStatus, type Secret, type SecretVersion } from './model.js';

export interface SecretsManagerOptions {
  /** The emulated KMS, asked (DescribeKey) whether a secret's KmsKeyId is usable. */
  kms?: EmulatedService;
}

export type SecretsManagerService = EmulatedService & TaggedResourceSource & { readonly errorConventions: Partial<ErrorConventions> };

const NOT_FOUND = "Secrets Manager can't find the specified secret.";
const MARKED_FOR_DELETION = "You can't perform this operation on the secret because it was marked for deletion.";
const NAME = /^[A-Za-z0-9/_+=.@-]+$/;
const REPLICA_WRITE = "Operation is not permitted on a replica secret. Call must be made in primary secret's region.";
const MAX_REPLICA_REGIONS = 50;
const MAX_VALUE = 65_536;
/** Secrets Manager's quota of versions per secret; it prunes unlabeled versions older than 24 h. */
export const MAX_VERSIONS = 100;
const DAY_MS = 86_400_000;

const invalidParameter = (message: string): ServiceError => new ServiceError('InvalidParameterException', message);
const invalidRequest = (message: string): ServiceError => new ServiceError('InvalidRequestException', message);

interface Value {
  secretString?: string;
  secretBinary?: string;
}

export function createSecretsManagerService(options: SecretsManagerOptions = {}): SecretsManagerService {
  /** scope → name → secret */
  let secrets = new Map<string, Map<string, Secret>>();

  const inScope = (scope: RequestScope): Map<string, Secret> => {
    const key = scopeKey(scope);
    let map = secrets.get(key);
    if (!map) {
      map = new Map();
      secrets.set(key, map);
    }
    return map;
  };

  /**
   * Secrets scheduled for deletion (DeleteSecret with a recovery window): the only ones purge looks
   * at, so a request costs nothing per secret. Rebuilt by restore.
   */
  let scheduled = new Set<Secret>();

  /** Drops secrets whose recovery window has passed. */
  const purge = (now: number): void => {
    for (const secret of scheduled) {
      if (secret.deletionDate === undefined) scheduled.delete(secret); // restored meanwhile
      else if (secret.deletionDate <= now) {
        scheduled.delete(secret);
        const map = secrets.get(scopeKey(secret));
        if (map?.get(secret.name) === secret) map.delete(secret.name);
      }
    }
  };

  /** ListSecrets walks: filtered and sorted once per listing, not once per page. */
  const listings = new ListingWalks<Secret>((s) => s.arn);

  /** Finds a secret by name, full ARN or partial ARN (the ARN without its 6-character suffix). */
  const find = (scope: RequestScope, secretId: string): Secret => {
    const map = inScope(scope);
    if (secretId.startsWith('arn:')) {
      const match = /^arn:([^:]*):secretsmanager:([^:]*):([^:]*):secret:(.+)$/.exec(secretId);
      if (!match || match[1] !== partitionOf(scope.region) || match[2] !== scope.region || match[3] !== scope.account) {
        throw new ServiceError('ResourceNotFoundException', NOT_FOUND);
      }
      const rest = match[4] ?? '';
      const full = map.get(rest.slice(0, -7));
      if (full && full.arn === secretId) return full;
      const partial = map.get(rest);
      if (partial) return partial;
      throw new ServiceError('ResourceNotFoundException', NOT_FOUND);
    }
    const secret = map.get(secretId);
    if (!secret) throw new ServiceError('ResourceNotFoundException', NOT_FOUND);
    return secret;
  };

  const active = (secret: Secret): Secret => {
    if (secret.deletedDate !== undefined) throw invalidRequest(MARKED_FOR_DELETION);
    return secret;
  };

  /** A replica is read-only: every write is made to its primary, in the primary's Region. */
  const primaryOnly = (secret: Secret): Secret => {
    if (secret.primaryRegion !== undefined) throw invalidRequest(`${REPLICA_WRITE} The primary of ${secret.name} is in ${secret.primaryRegion}.`);
    return secret;
  };

  const regionScope = (scope: RequestScope, region: string): RequestScope => ({ account: scope.account, region });

  /** The replica secret of `primary` in `region`, if it is still there and still that primary's. */
  const replicaIn = (primary: Secret, region: string): Secret | undefined => {
    const replica = inScope(regionScope(primary, region)).get(primary.name);
    return replica && replica.primaryRegion === primary.region ? replica : undefined;
  };

  /** The primary's ARN in another Region: Secrets Manager keeps the name and its 6-character suffix. */
  const arnInRegion = (arn: string, region: string): string => {
    const resource = /^arn:[^:]*:secretsmanager:[^:]*:[^:]*:(secret:.+)$/.exec(arn)?.[1] ?? '';
    return arnFor('secretsmanager', region, arn.split(':')[4] ?? '', resource);
  };

  /** Brings every in-sync replica of `primary` in step with it: versions, description, tags. */
  const propagate = (primary: Secret): void => {
    for (const status of primary.replicas ?? []) {
      if (status.status !== 'InSync') continue;
      const replica = replicaIn(primary, status.region);
      if (!replica) continue;
      const accessed = new Map(replica.versions.map((v) => [v.versionId, v.lastAccessedDate]));
      replica.versions = primary.versions.map((v) => {
        const copy: SecretVersion = { ...structuredClone(v), ...(status.kmsKeyId !== undefined ? { kmsKeyId: status.kmsKeyId } : {}) };
        if (status.kmsKeyId === undefined) delete copy.kmsKeyId;
        const lastAccessed = accessed.get(v.versionId);
        if (lastAccessed !== undefined) copy.lastAccessedDate = lastAccessed;
        else delete copy.lastAccessedDate;
        return copy;
      });
      if (primary.description !== undefined) replica.description = primary.description;
      else delete replica.description;
      replica.tags = primary.tags.map((t) => ({ ...t }));
      replica.lastChangedDate = primary.lastChangedDate;
    }
  };

  interface ReplicaRequest {
    region: string;
    kmsKeyId?: string;
  }

  const readReplicaRegions = (r: InputReader, required: boolean): ReplicaRequest[] | undefined => {
    const list = r.optionalList(
      'AddReplicaRegions',
      (item) => {
        const region = item.string('Region', { min: 1, max: 128 });
        const kmsKeyId = item.optionalString('KmsKeyId', { max: 2048 });
        return { region, ...(kmsKeyId !== undefined ? { kmsKeyId } : {}) };
      },
      { maxItems: MAX_REPLICA_REGIONS },
    );
    if (list === undefined && required) throw invalidParameter('AddReplicaRegions is required.');
    if (list !== undefined && list.length === 0) throw invalidParameter('AddReplicaRegions must name at least one Region.');
    return list;
  };

  /** Checks the whole request before anything is replicated: a refused request changes nothing. */
  const checkReplicaRegions = (primary: Secret, regions: ReplicaRequest[]): void => {
    const seen = new Set<string>();
    for (const { region } of regions) {
      if (!isRegion(region)) throw invalidParameter(`Invalid replica Region ${JSON.stringify(region)}: not a Region code.`);
      if (partitionOf(region) !== partitionOf(primary.region)) {
        throw invalidParameter(`Invalid replica Region ${region}: it is not in the partition of the primary Region ${primary.region}; secrets replicate within their partition.`);
      }
      if (region === primary.region) throw invalidParameter(`Invalid replica Region ${region}: it is the primary secret's own Region.`);
      if (seen.has(region)) throw invalidParameter(`Region ${region} is named more than once in AddReplicaRegions.`);
      seen.add(region);
      if (primary.replicas?.some((s) => s.region === region && s.status === 'InSync')) {
        throw invalidParameter(`The secret ${primary.name} is already replicated to ${region}.`);
      }
    }
  };

  /**
   * Creates (or overwrites, with `force`) the replica of `primary` in `request.region`. Never
   * throws for the Region itself: a failure is a `Failed` status with the reason, as Secrets
   * Manager reports it (the primary and the other Regions are unaffected).
   */
  const replicateTo = async (primary: Secret, request: ReplicaRequest, force: boolean, ctx: OperationContext): Promise<ReplicaStatus> => {
    const scope = regionScope(ctx.scope, request.region);
    const map = inScope(scope);
    const failed = (statusMessage: string): ReplicaStatus => ({
      region: request.region,
      ...(request.kmsKeyId !== undefined ? { kmsKeyId: request.kmsKeyId } : {}),
      status: 'Failed',
      statusMessage,
    });
    const existing = map.get(primary.name);
    if (existing) {
      if (!force) return failed('Secret with this name already exists in this region');
      if (existing.primaryRegion !== undefined || (existing.replicas?.length ?? 0) > 0) {
        return failed(`Secret with this name already exists in this region and is part of another replication; ForceOverwriteReplicaSecret does not overwrite it.`);
      }
    }
    if (primary.versions.length > 0) {
      try {
        await checkKey(request.kmsKeyId, { ...ctx, scope }, 'EncryptionFailure', primary.name);
      } catch (err) {
        if (err instanceof ServiceError) return failed(err.message);
        throw err;
      }
    }
    const now = ctx.clock.now();
    const replica: Secret = {
      arn: arnInRegion(primary.arn, request.region),
      name: primary.name,
      account: primary.account,
      region: request.region,
      ...(request.kmsKeyId !== undefined ? { kmsKeyId: request.kmsKeyId } : {}),
      tags: [],
      versions: [],
      createdDate: now,
      lastChangedDate: now,
      primaryRegion: primary.region,
    };
    map.set(primary.name, replica);
    return { region: request.region, ...(request.kmsKeyId !== undefined ? { kmsKeyId: request.kmsKeyId } : {}), status: 'InSync', statusMessage: 'Replication succeeded' };
  };

  /** Replicates to every requested Region (already checked), records the statuses, and syncs. */
  const replicate = async (primary: Secret, regions: ReplicaRequest[], force: boolean, ctx: OperationContext): Promise<void> => {
    for (const request of regions) {
      const status = await replicateTo(primary, request, force, ctx);
      primary.replicas = [...(primary.replicas ?? []).filter((s) => s.region !== request.region), status];
    }
    propagate(primary);
  };

  const replicationStatus = (secret: Secret): Record<string, unknown>[] =>
    (secret.replicas ?? []).map((s) => {
      const replica = s.status === 'InSync' ? replicaIn(secret, s.region) : undefined;
      return {
        Region: s.region,
        ...(s.kmsKeyId !== undefined ? { KmsKeyId: s.kmsKeyId } : {}),
        Status: s.status,
        StatusMessage: s.statusMessage,
        ...(replica?.lastAccessedDate !== undefined ? { LastAccessedDate: epochSeconds(replica.lastAccessedDate) } : {}),
      };
    });

  /** Asks the emulated KMS whether `keyId` can protect a secret; throws `errorType` if not. */
  const checkKey = async (keyId: string | undefined, ctx: OperationContext, errorType: 'EncryptionFailure' | 'DecryptionFailure', secretName: string): Promise<void> => {
    if (!keyId || keyId === DEFAULT_KEY || !options.kms) return;
    const verb = errorType === 'EncryptionFailure' ? 'encrypt' : 'decrypt';
    let metadata: Record<string, unknown> | undefined;
    try {
      const described = (await options.kms.handle('DescribeKey', { KeyId: keyId }, ctx)) as { KeyMetadata?: Record<string, unknown> } | undefined;
      metadata = described?.KeyMetadata;
    } catch (err) {
      if (err instanceof ServiceError && (err.type === 'NotFoundException' || err.type === 'InvalidArnException')) {
        throw new ServiceError(errorType, `Secrets Manager can't ${verb} the protected secret text of ${secretName} using the provided KMS key: key ${keyId} was not found in ${ctx.scope.region}.`);
      }
      return; // The KMS emulation cannot tell (e.g. not implemented): do not invent a failure.
    }
    if (!metadata) return;
    const state = metadata.KeyState;
    if (state !== undefined && state !== 'Enabled') {
      throw new ServiceError(
        errorType,
        `Secrets Manager can't ${verb} the protected secret text of ${secretName} using the provided KMS key: key ${String(metadata.Arn ?? keyId)} is ${String(state)}. Make the key usable again (for PendingImport: reimport its material) and retry.`,
      );
    }
    const spec = metadata.KeySpec ?? metadata.CustomerMasterKeySpec;
    if (spec !== undefined && spec !== 'SYMMETRIC_DEFAULT') {
      throw new ServiceError(errorType, `Secrets Manager can't ${verb} the protected secret text of ${secretName}: KMS key ${keyId} is ${String(spec)}, and secrets need a symmetric encryption key.`);
    }
  };

  const readValue = (r: InputReader, required: boolean): Value | undefined => {
    const secretString = r.optionalString('SecretString', { max: MAX_VALUE });
    const binary = r.optionalBlob('SecretBinary', { max: MAX_VALUE });
    if (secretString !== undefined && binary !== undefined) {
      throw invalidParameter("You can't specify both a binary secret value and a string secret value in the same secret.");
    }
    if (secretString === undefined && binary === undefined) {
      if (required) throw invalidRequest('You must provide either SecretString or SecretBinary.');
      return undefined;
    }
    return secretString !== undefined ? { secretString } : { secretBinary: (binary as Buffer).toString('base64') };
  };

  const readToken = (r: InputReader): string | undefined => {
    const token = r.optionalString('ClientRequestToken');
    if (token !== undefined && (token.length < 32 || token.length > 64)) {
      throw invalidParameter(`ClientRequestToken must be 32 to 64 characters long, got ${token.length}.`);
    }
    return token;
  };

  const readTags = (r: InputReader): { Key: string; Value: string }[] | undefined =>
    r.optionalList(
      'Tags',
      (tag) => ({ Key: tag.string('Key', { max: 128 }), Value: tag.optionalString('Value', { max: 256 }) ?? '' }),
      { maxItems: 50 },
    );

  const readStages = (r: InputReader): string[] | undefined => {
    const stages = r.optionalStringList('VersionStages', { maxItems: 20, maxLength: 256 });
    if (stages !== undefined && stages.length === 0) throw invalidParameter('VersionStages must name at least one staging label.');
    return stages;
  };

  /**
   * Adds a version (or returns the existing one for a repeated ClientRequestToken with the same
   * value), moving `stages` to it, and prunes deprecated versions past the quota.
   */
  const addVersion = (secret: Secret, value: Value, token: string | undefined, stages: string[], now: number): { version: SecretVersion; created: boolean } => {
    const versionId = token ?? randomUUID();
    const existing = secret.versions.find((v) => v.versionId === versionId);
    if (existing) {
      if (sameValue(existing, value)) return { version: existing, created: false };
      throw new ServiceError('ResourceExistsException', `You can't modify an existing version (${versionId}) of ${secret.name}; you can only create new versions, with a new ClientRequestToken.`);
    }
    const removable = secret.versions.filter((v) => v.stages.length === 0 && now - v.createdDate >= DAY_MS);
    const excess = secret.versions.length + 1 - MAX_VERSIONS;
    if (excess > removable.length) {
      throw new ServiceError(
        'LimitExceededException',
        `Secret ${secret.name} already has ${secret.versions.length} versions; Secrets Manager keeps at most ${MAX_VERSIONS} and removes only unlabeled versions older than 24 hours. Wait, or write less often.`,
      );
    }
    if (excess > 0) {
      const drop = new Set(removable.slice(0, excess));
      secret.versions = secret.versions.filter((v) => !drop.has(v));
    }
    const version: SecretVersion = { versionId, ...value, stages: [], createdDate: now, ...(secret.kmsKeyId ? { kmsKeyId: secret.kmsKeyId } : {}) };
    secret.versions.push(version);
    moveStages(secret, version, stages);
    secret.lastChangedDate = now;
    return { version, created: true };
  };

  const tagList = (secret: Secret): { Key: string; Value: string }[] => secret.tags.map((t) => ({ ...t }));

  const stagesMap = (secret: Secret, includeDeprecated = false): Record<string, string[]> =>
    Object.fromEntries(secret.versions.filter((v) => includeDeprecated || v.stages.length > 0).map((v) => [v.versionId, [...v.stages]]));

  const describe = (secret: Secret, stagesField: 'VersionIdsToStages' | 'SecretVersionsToStages'): Record<string, unknown> => ({
    ARN: secret.arn,
    Name: secret.name,
    ...(secret.description !== undefined ? { Description: secret.description } : {}),
    ...(secret.kmsKeyId !== undefined ? { KmsKeyId: secret.kmsKeyId } : {}),
    LastChangedDate: epochSeconds(secret.lastChangedDate),
    ...(secret.lastAccessedDate !== undefined ? { LastAccessedDate: epochSeconds(secret.lastAccessedDate) } : {}),
    ...(secret.deletedDate !== undefined ? { DeletedDate: epochSeconds(secret.deletedDate) } : {}),
    ...(secret.tags.length > 0 ? { Tags: tagList(secret) } : {}),
    [stagesField]: stagesMap(secret),
    CreatedDate: epochSeconds(secret.createdDate),
    // Only for a replicated secret (a primary with replicas, or a replica): a decision, the reference leaves it open.
    ...(secret.primaryRegion !== undefined ? { PrimaryRegion: secret.primaryRegion } : {}),
    ...(secret.primaryRegion === undefined && (secret.replicas?.length ?? 0) > 0 ? { PrimaryRegion: secret.region, ReplicationStatus: replicationStatus(secret) } : {}),
  });

  const page = <T>(items: T[], r: InputReader, what: string): { items: T[]; NextToken?: string } => {
    const max = r.optionalInteger('MaxResults', { min: 1, max: 100 }) ?? 100;
    const token = r.optionalString('NextToken');
    let start = 0;
    if (token !== undefined) {
      const decoded = /^o(\d+)$/.exec(Buffer.from(token, 'base64').toString('utf8'));
      if (!decoded) throw new ServiceError('InvalidNextTokenException', `The NextToken for ${what} is not one this endpoint issued.`);
      start = Number(decoded[1]);
    }
    const slice = items.slice(start, start + max);
    const next = start + max < items.length ? Buffer.from(`o${start + max}`).toString('base64') : undefined;
    return { items: slice, ...(next ? { NextToken: next } : {}) };
  };

  const matchesFilters = (secret: Secret, filters: { key: string; values: string[] }[]): boolean =>
    filters.every(({ key, values }) => {
      const fields = (): string[] => {
        switch (key) {
          case 'name':
            return [secret.name];
          case 'description':
            return secret.description !== undefined ? [secret.description] : [];
          case 'tag-key':
            return secret.tags.map((t) => t.Key);
          case 'tag-value':
            return secret.tags.map((t) => t.Value);
          case 'primary-region':
            return secret.primaryRegion !== undefined ? [secret.primaryRegion] : (secret.replicas?.length ?? 0) > 0 ? [secret.region] : [];
          case 'owning-service':
            return [];
          default:
            return [secret.name, secret.description ?? '', ...secret.tags.flatMap((t) => [t.Key, t.Value])];
        }
      };
      const candidates = fields();
      const positive = values.filter((v) => !v.startsWith('!'));
      const negative = values.filter((v) => v.startsWith('!')).map((v) => v.slice(1));
      if (negative.some((n) => candidates.some((c) => c.startsWith(n)))) return false;
      return positive.length === 0 || positive.some((p) => candidates.some((c) => c.startsWith(p)));
    });

  type Operation = (r: InputReader, ctx: OperationContext) => Promise<Record<string, unknown>> | Record<string, unknown>;

  /** What local/iam needs to authorise a request: the secret a SecretId names, and KMS's view of its key. */
  const lookups: SecretsManagerLookups = {
    secret(secretId, ctx) {
      try {
        const secret = find(ctx.scope, secretId);
        return { arn: secret.arn, tags: Object.fromEntries(secret.tags.map((t) => [t.Key, t.Value])), ...(secret.kmsKeyId ? { kmsKeyId: secret.kmsKeyId } : {}) };
      } catch {
        return undefined;
      }
    },
    partialArn: (name, ctx) => arnFor('secretsmanager', ctx.scope.region, ctx.scope.account, `secret:${name}`),
    kmsKey: async (keyId, ctx) => (await options.kms?.authorizationContext?.('DescribeKey', { KeyId: keyId }, ctx))?.[0],
  };

  const operations: Record<string, Operation> = {
    async CreateSecret(r, ctx) {
      const name = r.string('Name', { max: 512 });
      if (!NAME.test(name)) throw invalidParameter(`The secret name ${JSON.stringify(name)} contains characters other than letters, digits and /_+=.@-.`);
      const token = readToken(r);
      const description = r.optionalString('Description', { max: 2048 });
      const kmsKeyId = r.optionalString('KmsKeyId', { max: 2048 });
      const tags = readTags(r) ?? [];
      const value = readValue(r, false);
      const replicaRegions = readReplicaRegions(r, false);
      const force = r.optionalBoolean('ForceOverwriteReplicaSecret') ?? false;
      const map = inScope(ctx.scope);
      const now = ctx.clock.now();
      const existing = map.get(name);
      if (existing) {
        if (existing.deletedDate !== undefined) {
          throw invalidRequest(`You can't create this secret because a secret with this name is already scheduled for deletion.`);
        }
        const repeat = token !== undefined && value !== undefined && existing.versions.find((v) => v.versionId === token);
        if (repeat && sameValue(repeat, value)) return { ARN: existing.arn, Name: existing.name, VersionId: repeat.versionId };
        throw new ServiceError('ResourceExistsException', `The operation failed because the secret ${name} already exists.`);
      }
      if (replicaRegions) checkReplicaRegions({ name, region: ctx.scope.region } as Secret, replicaRegions);
      if (value) await checkKey(kmsKeyId, ctx, 'EncryptionFailure', name);
      const secret: Secret = {
        arn: secretArn(ctx.scope, name),
        name,
        account: ctx.scope.account,
        region: ctx.scope.region,
        ...(description !== undefined ? { description } : {}),
        ...(kmsKeyId !== undefined ? { kmsKeyId } : {}),
        tags: dedupeTags(tags),
        versions: [],
        createdDate: now,
        lastChangedDate: now,
      };
      const version = value ? addVersion(secret, value, token, [CURRENT], now).version : undefined;
      map.set(name, secret);
      if (replicaRegions) await replicate(secret, replicaRegions, force, ctx);
      return {
        ARN: secret.arn,
        Name: secret.name,
        ...(version ? { VersionId: version.versionId } : {}),
        ...(replicaRegions ? { ReplicationStatus: replicationStatus(secret) } : {}),
      };
    },

    async GetSecretValue(r, ctx) {
      const secret = active(find(ctx.scope, r.string('SecretId', { max: 2048 })));
      const versionId = r.optionalString('VersionId', { min: 32, max: 64 });
      const stage = r.optionalString('VersionStage', { min: 1, max: 256 });
      let version: SecretVersion | undefined;
      if (versionId !== undefined) {
        version = secret.versions.find((v) => v.versionId === versionId);
        if (!version) throw new ServiceError('ResourceNotFoundException', `Secrets Manager can't find the specified secret value for VersionId: ${versionId}`);
        if (stage !== undefined && !version.stages.includes(stage)) {
          throw invalidParameter(`The VersionId ${versionId} and VersionStage ${stage} you specified refer to different versions of ${secret.name}.`);
        }
      } else {
        const label = stage ?? CURRENT;
        version = secret.versions.find((v) => v.stages.includes(label));
        if (!version) throw new ServiceError('ResourceNotFoundException', `Secrets Manager can't find the specified secret value for staging label: ${label}`);
      }
      await checkKey(version.kmsKeyId, ctx, 'DecryptionFailure', secret.name);
      const today = dayOf(ctx.clock.now());
      version.lastAccessedDate = today;
      secret.lastAccessedDate = today;
      return {
        ARN: secret.arn,
        Name: secret.name,
        VersionId: version.versionId,
        ...(version.secretString !== undefined ? { SecretString: version.secretString } : { SecretBinary: version.secretBinary }),
        VersionStages: [...version.stages],
        CreatedDate: epochSeconds(version.createdDate),
      };
    },

    async PutSecretValue(r, ctx) {
      const secret = primaryOnly(active(find(ctx.scope, r.string('SecretId', { max: 2048 }))));
      const token = readToken(r);
      const stages = readStages(r) ?? [CURRENT];
      const value = readValue(r, true) as Value;
      const repeat = token !== undefined ? secret.versions.find((v) => v.versionId === token) : undefined;
      if (!repeat) await checkKey(secret.kmsKeyId, ctx, 'EncryptionFailure', secret.name);
      const { version } = addVersion(secret, value, token, stages, ctx.clock.now());
      propagate(secret);
      return { ARN: secret.arn, Name: secret.name, VersionId: version.versionId, VersionStages: [...version.stages] };
    },

    async UpdateSecret(r, ctx) {
      const secret = primaryOnly(active(find(ctx.scope, r.string('SecretId', { max: 2048 }))));
      const token = readToken(r);
      const description = r.optionalString('Description', { max: 2048 });
      const kmsKeyId = r.optionalString('KmsKeyId', { max: 2048 });
      const value = readValue(r, false);
      const now = ctx.clock.now();
      if (value) await checkKey(kmsKeyId ?? secret.kmsKeyId, ctx, 'EncryptionFailure', secret.name);
      if (description !== undefined) secret.description = description;
      if (kmsKeyId !== undefined) secret.kmsKeyId = kmsKeyId;
      if (description !== undefined || kmsKeyId !== undefined) secret.lastChangedDate = now;
      const version = value ? addVersion(secret, value, token, [CURRENT], now).version : undefined;
      propagate(secret);
      return { ARN: secret.arn, Name: secret.name, ...(version ? { VersionId: version.versionId } : {}) };
    },

    DescribeSecret(r, ctx) {
      return describe(find(ctx.scope, r.string('SecretId', { max: 2048 })), 'VersionIdsToStages');
    },

    ListSecretVersionIds(r, ctx) {
      const secret = find(ctx.scope, r.string('SecretId', { max: 2048 }));
      const includeDeprecated = r.optionalBoolean('IncludeDeprecated') ?? false;
      const versions = secret.versions.filter((v) => includeDeprecated || v.stages.length > 0);
      const { items, NextToken } = page(versions, r, `the versions of ${secret.name}`);
      return {
        Versions: items.map((v) => ({
          VersionId: v.versionId,
          VersionStages: [...v.stages],
          ...(v.lastAccessedDate !== undefined ? { LastAccessedDate: epochSeconds(v.lastAccessedDate) } : {}),
          CreatedDate: epochSeconds(v.createdDate),
          KmsKeyIds: [v.kmsKeyId ?? 'DefaultEncryptionKey'],
        })),
        ...(NextToken ? { NextToken } : {}),
        ARN: secret.arn,
        Name: secret.name,
      };
    },

    ListSecrets(r, ctx) {
      const includeDeleted = r.optionalBoolean('IncludePlannedDeletion') ?? false;
      const filters =
        r.optionalList('Filters', (f) => {
          const key = f.string('Key');
          if (!['name', 'description', 'tag-key', 'tag-value', 'primary-region', 'owning-service', 'all'].includes(key)) {
            throw invalidParameter(`Filter key ${JSON.stringify(key)} is not one of name, description, tag-key, tag-value, primary-region, owning-service, all.`);
          }
          return { key, values: f.optionalStringList('Values', { maxItems: 10, maxLength: 512 }) ?? [] };
        }, { maxItems: 10 }) ?? [];
      const order = r.optionalString('SortOrder') ?? 'asc';
      if (order !== 'asc' && order !== 'desc') throw invalidParameter(`SortOrder must be asc or desc, got ${JSON.stringify(order)}.`);
      const sortBy = r.optionalString('SortBy') ?? 'created-date';
      const sortKey: Record<string, (s: Secret) => number | string> = {
        'created-date': (s) => s.createdDate,
        'last-changed-date': (s) => s.lastChangedDate,
        'last-accessed-date': (s) => s.lastAccessedDate ?? 0,
        name: (s) => s.name,
      };
      const keyOf = sortKey[sortBy];
      if (!keyOf) throw invalidParameter(`SortBy must be one of ${Object.keys(sortKey).join(', ')}, got ${JSON.stringify(sortBy)}.`);
      const max = r.optionalInteger('MaxResults', { min: 1, max: 100 }) ?? 100;
      const list = (): Secret[] =>
        [...inScope(ctx.scope).values()]
          .filter((s) => includeDeleted || s.deletedDate === undefined)
          .filter((s) => matchesFilters(s, filters))
          .sort((a, b) => {
            const x = keyOf(a);
            const y = keyOf(b);
            const c = x < y ? -1 : x > y ? 1 : a.arn < b.arn ? -1 : a.arn > b.arn ? 1 : 0;
            return order === 'asc' ? c : -c;
          });
      const query = JSON.stringify([scopeKey(ctx.scope), includeDeleted, filters, order, sortBy, max]);
      const invalid = () => new ServiceError('InvalidNextTokenException', 'The NextToken for ListSecrets is not one this endpoint issued for this query.');
      const { items, next } = listings.page(query, r.optionalString('NextToken'), max, list, invalid);
      return { SecretList: items.map((s) => describe(s, 'SecretVersionsToStages')), ...(next ? { NextToken: next } : {}) };
    },

    TagResource(r, ctx) {
      const secret = primaryOnly(active(find(ctx.scope, r.string('SecretId', { max: 2048 }))));
      const tags = readTags(r);
      if (!tags) throw invalidParameter('Tags is required.');
      const merged = dedupeTags([...secret.tags, ...tags]);
      if (merged.length > 50) throw invalidParameter(`A secret can have at most 50 tags; ${secret.name} would have ${merged.length}.`);
      secret.tags = merged;
      propagate(secret);
      return {};
    },

    UntagResource(r, ctx) {
      const secret = primaryOnly(active(find(ctx.scope, r.string('SecretId', { max: 2048 }))));
      const keys = r.optionalStringList('TagKeys', { maxLength: 128 });
      if (!keys) throw invalidParameter('TagKeys is required.');
      secret.tags = secret.tags.filter((t) => !keys.includes(t.Key));
      propagate(secret);
      return {};
    },

    DeleteSecret(r, ctx) {
      const secret = primaryOnly(find(ctx.scope, r.string('SecretId', { max: 2048 })));
      if ((secret.replicas ?? []).some((s) => s.status === 'InSync')) {
        throw invalidRequest(
          `You can't delete secret ${secret.name} while it is replicated to ${secret.replicas?.filter((s) => s.status === 'InSync').map((s) => s.region).join(', ')}: remove the replicas first (RemoveRegionsFromReplication).`,
        );
      }
      const window = r.optionalInteger('RecoveryWindowInDays');
      const force = r.optionalBoolean('ForceDeleteWithoutRecovery') ?? false;
      if (force && window !== undefined) throw invalidParameter("You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.");
      if (window !== undefined && (window < 7 || window > 30)) {
        throw invalidParameter(`RecoveryWindowInDays must be between 7 and 30 days, got ${window}.`);
      }
      const now = ctx.clock.now();
      if (force) {
        inScope(ctx.scope).delete(secret.name);
        return { ARN: secret.arn, Name: secret.name, DeletionDate: epochSeconds(now) };
      }
      if (secret.deletedDate !== undefined) throw invalidRequest(`The secret ${secret.name} is already scheduled for deletion; use RestoreSecret to cancel, or ForceDeleteWithoutRecovery to delete it now.`);
      secret.deletedDate = now;
      secret.deletionDate = now + (window ?? 30) * DAY_MS;
      scheduled.add(secret);
      return { ARN: secret.arn, Name: secret.name, DeletionDate: epochSeconds(secret.deletionDate) };
    },

    RestoreSecret(r, ctx) {
      const secret = primaryOnly(find(ctx.scope, r.string('SecretId', { max: 2048 })));
      delete secret.deletedDate;
      delete secret.deletionDate;
      return { ARN: secret.arn, Name: secret.name };
    },

    async ReplicateSecretToRegions(r, ctx) {
      const secret = primaryOnly(active(find(ctx.scope, r.string('SecretId', { max: 2048 }))));
      const regions = readReplicaRegions(r, true) as ReplicaRequest[];
      const force = r.optionalBoolean('ForceOverwriteReplicaSecret') ?? false;
      checkReplicaRegions(secret, regions);
      await replicate(secret, regions, force, ctx);
      return { ARN: secret.arn, ReplicationStatus: replicationStatus(secret) };
    },

    RemoveRegionsFromReplication(r, ctx) {
      const secret = primaryOnly(find(ctx.scope, r.string('SecretId', { max: 2048 })));
      const regions = r.optionalStringList('RemoveReplicaRegions', { maxItems: MAX_REPLICA_REGIONS, maxLength: 128 });
      if (regions === undefined || regions.length === 0) throw invalidParameter('RemoveReplicaRegions must name at least one Region.');
      const unknown = regions.filter((region) => !(secret.replicas ?? []).some((s) => s.region === region));
      if (unknown.length > 0) throw invalidParameter(`The secret ${secret.name} is not replicated to ${unknown.join(', ')}.`);
      for (const region of regions) {
        if (replicaIn(secret, region)) inScope(regionScope(ctx.scope, region)).delete(secret.name);
      }
      secret.replicas = (secret.replicas ?? []).filter((s) => !regions.includes(s.region));
      if (secret.replicas.length === 0) delete secret.replicas;
      return { ARN: secret.arn, ReplicationStatus: replicationStatus(secret) };
    },

    StopReplicationToReplica(r, ctx) {
      const replica = find(ctx.scope, r.string('SecretId', { max: 2048 }));
      const primaryRegion = replica.primaryRegion;
      if (primaryRegion === undefined) {
        throw invalidRequest(`The secret ${replica.name} in ${replica.region} is not a replica secret; call StopReplicationToReplica in the replica's Region.`);
      }
      const primary = inScope(regionScope(ctx.scope, primaryRegion)).get(replica.name);
      if (primary) {
        primary.replicas = (primary.replicas ?? []).filter((s) => s.region !== replica.region);
        if (primary.replicas.length === 0) delete primary.replicas;
      }
      delete replica.primaryRegion;
      replica.lastChangedDate = ctx.clock.now();
      return { ARN: replica.arn };
    },
  };

  return {
    targetPrefix: 'secretsmanager',
    signingName: 'secretsmanager',
    resourceType: 'secretsmanager:secret',
    errorConventions: { unknownOperation: 'UnknownOperationException', internal: 'InternalServiceError', throttling: 'ThrottlingException' },
    operations: () => Object.keys(operations),
    async handle(operation, input, ctx) {
      const run = operations[operation];
      if (!run) throw new ServiceError('UnknownOperationException', `Operation ${operation} is not implemented by the local endpoint (secretsmanager)`);
      purge(ctx.clock.now());
      return run(new InputReader(input, 'InvalidParameterException'), ctx);
    },
    taggedResources(scope, now): TaggedResource[] {
      purge(now);
      return [...inScope(scope).values()].map((s) => ({ resourceArn: s.arn, tags: Object.fromEntries(s.tags.map((t) => [t.Key, t.Value])) }));
    },
    authorizationContext: (operation, input, ctx) => secretsManagerAuthorizationChecks(operation, input, ctx, lookups),
    snapshot: () => ({ secrets: [...secrets.values()].flatMap((map) => [...map.values()]).map((s) => structuredClone(s)) }),
    restore(state) {
      const list = (state as { secrets?: unknown } | null)?.secrets;
      if (!Array.isArray(list)) throw new Error('Secrets Manager state must be {"secrets": [...]} as written by snapshot()');
      const next = new Map<string, Map<string, Secret>>();
      for (const item of list as Secret[]) {
        if (!item || typeof item.arn !== 'string' || typeof item.name !== 'string' || !Array.isArray(item.versions)) {
          throw new Error('Secrets Manager state holds a secret without arn, name or versions');
        }
        const key = scopeKey(item);
        if (!next.has(key)) next.set(key, new Map());
        next.get(key)?.set(item.name, structuredClone(item));
      }
      secrets = next;
      scheduled = new Set([...next.values()].flatMap((map) => [...map.values()]).filter((s) => s.deletionDate !== undefined));
    },
  };
}

/** Later tags replace earlier ones with the same key; order of first appearance is kept. */
function dedupeTags(tags: { Key: string; Value: string }[]): { Key: string; Value: string }[] {
  const map = new Map<string, string>();
  for (const tag of tags) map.set(tag.Key, tag.Value);
  return [...map].map(([Key, Value]) => ({ Key, Value }));
}
