export {
  ESCROW_FORMAT_V1,
  formatEscrowSecret,
  isPendingImport,
  parseEscrowSecret,
  PENDING_IMPORT_STATE,
  ROTATION_ID,
  type EscrowContext,
  type EscrowEntry,
  type EscrowSecretValue,
} from './format.js';
export { validateMaterial, wipe, wipeEscrowed, type EscrowedMaterial } from './material.js';
export {
  defaultSecretOwner,
  describeEscrowSecret,
  ESCROW_KEY_ID_TAG,
  escrowSecretId,
  isDefaultEscrowSecret,
  readEscrow,
  selectEscrowedMaterial,
  unboundEscrowMessage,
  type EscrowSecretFacts,
} from './read.js';
export {
  escrowClientRequestToken,
  escrowRotationMaterial,
  labelKeyMaterial,
  recordImportedMaterial,
  type EscrowRotationInput,
  type LabelMaterialInput,
  type EscrowWriteResult,
  type EscrowWriteStep,
  type RecordImportInput,
} from './write.js';
export { checkEscrowHealth, type AliasTarget, type EscrowHealth, type EscrowHealthResult, type ResolveAlias } from './health.js';
