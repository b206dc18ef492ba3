/**
 * The recovery engine's entry points: importEscrowedMaterial (the only code that reads escrow;
 * also a Step Functions task), verifyKey, and recoverKey (a whole run for one key).
 */
export {
  chooseExpirationModel,
  computeValidTo,
  importEscrowedMaterial,
  MAX_VALID_TO_DAYS,
  resolveExpirationModel,
  type ExpirationModelChoice,
  type ImportDeps,
  type ImportInput,
  type ImportResult,
} from './kms/import-material.js';
export { verifyAfterImport, verifyKey, verifyUnlessDisabled, type LeftDisabledResult, type VerifyResult } from './kms/verify.js';
export { importTargets, planImports, recoverKey, type RecoverDeps, type RecoverLogger, type RecoverOptions } from './recover.js';
