export { ESCROW_FORMAT_V1, parseEscrowSecret, type EscrowContext, type EscrowSecretValue } from './format.js';
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
export { checkEscrowHealth, type AliasTarget, type EscrowHealth, type EscrowHealthResult, type ResolveAlias } from './health.js';
