export { ESCROW_FORMAT_V1, parseEscrowSecret, type EscrowContext, type EscrowSecretValue } from './format.js';
export { validateMaterial, wipe, wipeEscrowed, type EscrowedMaterial } from './material.js';
export { ESCROW_KEY_ID_TAG, escrowSecretId, isDefaultEscrowSecret, readEscrow, selectEscrowedMaterial } from './read.js';
