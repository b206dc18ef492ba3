// The emulated KMS of the local endpoint: `createKmsService` plugs into the server through the
// EmulatedService contract (local/service.ts). It shares no code with lib/: it unwraps, checks
// and encrypts on its own, straight from the KMS contract.
import { ServiceError, type EmulatedService, type OperationContext, type RequestScope, type TaggedResourceSource } from '../service.js';
import { type KmsContext, type KmsServiceOptions, type Operation, resolveOptions } from './context.js';
import {
  decrypt,
  encrypt,
  generateDataKey,
  generateDataKeyWithoutPlaintext,
  generateMac,
  generateRandom,
  getPublicKey,
  reEncrypt,
  signOperation,
  verifyMac,
  verifyOperation,
} from './cryptography.js';
import { kmsError } from './errors.js';
import { deleteImportedKeyMaterial, getParametersForImport, importKeyMaterial } from './importing.js';
import {
  cancelKeyDeletion,
  createAlias,
  createKey,
  deleteAlias,
  describeKey,
  disableKey,
  enableKey,
  forgetDeletedKey,
  getKeyPolicy,
  listAliases,
  listKeys,
  listResourceTags,
  replicateKey,
  scheduleKeyDeletion,
  tagResource,
  untagResource,
  updateAlias,
  updateKeyDescription,
} from './keys.js';
import { getKeyRotationStatus, listKeyRotations, rotateKeyOnDemand } from './rotation.js';
import { aliasArn, type KmsState, regionState, resolveKey } from './state.js';
import { AgingQueue } from './aging.js';
import { kmsAuthorizationChecks, kmsKeyFacts, type KmsLookups } from '../iam/contexts.js';
import { WrappingKeyPool } from './wrapping.js';

export type { KmsServiceOptions } from './context.js';
export { MAX_ON_DEMAND_ROTATIONS } from './rotation.js';

const OPERATIONS: Record<string, Operation> = {
  CreateKey: createKey,
  DescribeKey: describeKey,
  ListKeys: listKeys,
  UpdateKeyDescription: updateKeyDescription,
  GetKeyPolicy: getKeyPolicy,
  CreateAlias: createAlias,
  UpdateAlias: updateAlias,
  DeleteAlias: deleteAlias,
  ListAliases: listAliases,
  TagResource: tagResource,
  UntagResource: untagResource,
  ListResourceTags: listResourceTags,
  EnableKey: enableKey,
  DisableKey: disableKey,
  ScheduleKeyDeletion: scheduleKeyDeletion,
  CancelKeyDeletion: cancelKeyDeletion,
  ReplicateKey: replicateKey,
  GetParametersForImport: getParametersForImport,
  ImportKeyMaterial: importKeyMaterial,
  DeleteImportedKeyMaterial: deleteImportedKeyMaterial,
  RotateKeyOnDemand: rotateKeyOnDemand,
  ListKeyRotations: listKeyRotations,
  GetKeyRotationStatus: getKeyRotationStatus,
  Encrypt: encrypt,
  Decrypt: decrypt,
  GenerateDataKey: generateDataKey,
  GenerateDataKeyWithoutPlaintext: generateDataKeyWithoutPlaintext,
  ReEncrypt: reEncrypt,
  GetPublicKey: getPublicKey,
  Sign: signOperation,
  Verify: verifyOperation,
  GenerateMac: generateMac,
  VerifyMac: verifyMac,
  GenerateRandom: generateRandom,
};

export interface KmsService extends EmulatedService, TaggedResourceSource {
  /** Waits for background wrapping-key generation (only with wrappingKeyPoolSize > 0). */
  close(): Promise<void>;
}

export function createKmsService(options: KmsServiceOptions = {}): KmsService {
  const resolved = resolveOptions(options);
  const kms: KmsContext = {
    state: { regions: {} },
    options: resolved,
    wrappingKeys: new WrappingKeyPool(resolved.wrappingKeyPoolSize, resolved.wrappingKeyPoolRefillDelayMs),
    aging: new AgingQueue(),
  };

  /** What local/iam needs to authorise a request: the key a KeyId names (aliases resolved, as KMS authorises an alias call against its key). */
  const lookups: KmsLookups = {
    key(keyId, ctx) {
      try {
        return kmsKeyFacts(resolveKey(kms.state, ctx.scope, ctx.clock.now(), keyId));
      } catch (err) {
        if (err instanceof ServiceError) return undefined;
        throw err;
      }
    },
    aliasArn: (name, ctx) => aliasArn(ctx.scope.region, ctx.scope.account, name),
    keyOfCiphertext(input, ctx) {
      try {
        return (decrypt(kms, input, ctx) as { KeyId: string }).KeyId;
      } catch {
        return undefined;
      }
    },
  };

  /** Ages the keys whose moment has come (every Region: a replica's deletion changes its primary). */
  function age(now: number): void {
    kms.aging.ageDue(kms.state, now, (k) => forgetDeletedKey(kms, k));
  }

  return {
    targetPrefix: 'TrentService',
    signingName: 'kms',
    resourceType: 'kms:key',
    operations: () => Object.keys(OPERATIONS),
    async handle(operation: string, input: Record<string, unknown>, ctx: OperationContext) {
      const run = OPERATIONS[operation];
      if (!run) {
        throw kmsError('UnsupportedOperationException', `Operation ${operation} is not implemented by the local endpoint's KMS; it implements ${Object.keys(OPERATIONS).join(', ')}.`);
      }
      if (typeof input !== 'object' || input === null || Array.isArray(input)) {
        throw kmsError('ValidationException', `The request body of ${operation} must be a JSON object.`);
      }
      age(ctx.clock.now());
      try {
        return await run(kms, input, ctx);
      } catch (err) {
        if (err instanceof ServiceError) throw err;
        // Never echo an internal error's text: it could carry input bytes.
        throw kmsError('KMSInternalException', `The local endpoint's KMS failed on ${operation} (${err instanceof Error ? err.name : 'error'}); this is a bug in the endpoint, please report it.`);
      }
    },
    authorizationContext: (operation, input, ctx) => kmsAuthorizationChecks(operation, input, ctx, lookups),
    taggedResources(scope: RequestScope, now: number) {
      age(now);
      const space = regionState(kms.state, scope.account, scope.region);
      return Object.values(space.keys).map((k) => ({ resourceArn: k.arn, tags: Object.fromEntries(k.tags.map((t) => [t.TagKey, t.TagValue])) }));
    },
    snapshot: () => structuredClone(kms.state),
    restore(state: unknown) {
      if (typeof state !== 'object' || state === null || typeof (state as KmsState).regions !== 'object' || (state as KmsState).regions === null) {
        throw new Error('KMS state to restore must be an object with a "regions" member, as produced by snapshot()');
      }
      kms.state = structuredClone(state as KmsState);
      kms.aging.rebuild(kms.state);
    },
    close: () => kms.wrappingKeys.drain(),
  };
}
