// Placeholder until the KMS emulation lands: every operation answers "not implemented".
import { ServiceError, type EmulatedService, type TaggedResourceSource } from '../service.js';

export interface KmsServiceOptions {
  /** Whether an earlier, unexpired import token still works after a newer GetParametersForImport. */
  earlierTokens?: 'valid' | 'invalid';
}

export function createKmsService(_options: KmsServiceOptions = {}): EmulatedService & TaggedResourceSource {
  return {
    targetPrefix: 'TrentService',
    signingName: 'kms',
    resourceType: 'kms:key',
    operations: () => [],
    async handle(operation) {
      throw new ServiceError('UnsupportedOperationException', `Operation ${operation} is not implemented by the local endpoint`);
    },
    taggedResources: () => [],
    snapshot: () => ({}),
    restore: () => {},
  };
}
