/** The public API of the kms-reimport library (lib/). */
export * from './types.js';
export * from './errors.js';
export { DEFAULT_CONFIG, loadConfig, validateConfig, WRAPPING_ALGORITHMS, WRAPPING_KEY_SPECS } from './config.js';
export type { ExpirationModelSetting, ReimportConfig, WrappingAlgorithm, WrappingKeySpec } from './config.js';
export { backoffCap, callWithRetry, isThrottlingError, isTransientError, withRetry, type RetryInfo, type RetryOptions } from './retry.js';
export { createClients, type AwsClients, type ClientOptions } from './aws/clients.js';
export { countCalls, operationName } from './aws/count-calls.js';
export { describeKeyMetadata, inspectKey, isAliasRef } from './kms/inspect.js';
export { classifyKey, isManaged, missingMaterialIds, planAction, type Plan } from './kms/classify.js';
export { IMPORTABLE_KEY_SPECS, isImportableKeySpec, materialKindFor, type MaterialKind } from './kms/key-specs.js';
export { getImportParameters } from './kms/import-parameters.js';
export * from './escrow/index.js';
export * from './wrap/index.js';
export * from './reimport.js';
export { createOutcome, describeFailure, statusForAction, summariseOutcome, type OutcomeInput } from './outcome.js';
export { chooseRotationMode, rotateKey, type RotateOptions, type RotationMode } from './rotate.js';
export { parseRotateEvery, rotationModeFor, rotationSchedule, ROTATE_EVERY_TAG, ROTATED_FROM_TAG, ROTATED_TO_TAG, type RotationStatus } from './rotation/schedule.js';
export { DynamoDbKeyLease, LEASE_SECONDS, type KeyLease } from './lease/index.js';
