// Cryptographic operations with the key material itself.
import { constants, createCipheriv, createDecipheriv, createHmac, createPublicKey, privateDecrypt, publicEncrypt, randomBytes, timingSafeEqual } from 'node:crypto';
import type { OperationContext } from '../service.js';
import type { KmsContext } from './context.js';
import { kmsError, validationError } from './errors.js';
import { type Input, optionalEnum, optionalInteger, optionalString, optionalStringMap, requiredBlob, requiredEnum, requiredString } from './input.js';
import { privateKeyOf } from './material.js';
import { signMessage, verifySignature } from './signing.js';
import { algorithmsFor, ENCRYPTION_ALGORITHMS, type EncryptionAlgorithm, hashOf, MAC_ALGORITHMS, SIGNING_ALGORITHMS, SPECS, type KeyUsage } from './specs.js';
import { currentMaterial, keyState, type KeyRecord, type MaterialRecord, resolveKey } from './state.js';

const BLOB_VERSION = 1;

/** Refuses a cryptographic operation unless the key is Enabled and has the usage it needs. */
export function usableKey(key: KeyRecord, usage: KeyUsage, operation: string): void {
  const state = keyState(key);
  if (state === 'Disabled') throw kmsError('DisabledException', `${key.arn} is disabled. Enable it with EnableKey to use it in ${operation}.`);
  if (state === 'PendingImport') {
    throw kmsError(
      'KMSInvalidStateException',
      `${key.arn} is pending import: key material is missing (expired or deleted). Reimport the same key material (GetParametersForImport, ImportKeyMaterial) to use it in ${operation}.`,
    );
  }
  if (state === 'PendingDeletion') {
    throw kmsError('KMSInvalidStateException', `${key.arn} is pending deletion. Cancel the deletion (CancelKeyDeletion) and enable it to use it in ${operation}.`);
  }
  if (key.keyUsage !== usage) {
    throw kmsError('InvalidKeyUsageException', `${key.arn} has KeyUsage ${key.keyUsage} (${key.keySpec}); ${operation} needs a key with KeyUsage ${usage}.`);
  }
}

function canonicalContext(context: Record<string, string> | undefined): Buffer {
  const entries = Object.entries(context ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return Buffer.from(JSON.stringify(entries), 'utf8');
}

function presentMaterial(key: KeyRecord, m: MaterialRecord, operation: string): Buffer {
  if (m.material === undefined) {
    throw kmsError('KMSInvalidStateException', `Key material ${m.id} of ${key.arn} is not imported; reimport it to use it in ${operation}.`);
  }
  return Buffer.from(m.material, 'base64');
}

/** Symmetric ciphertext blob: version, key id, material id, IV, tag, AES-256-GCM ciphertext. */
function sealSymmetric(key: KeyRecord, plaintext: Buffer, context: Record<string, string> | undefined): { blob: Buffer; materialId: string } {
  const m = currentMaterial(key)!;
  const aesKey = presentMaterial(key, m, 'Encrypt');
  const keyIdBytes = Buffer.from(key.keyId, 'utf8');
  const header = Buffer.concat([Buffer.from([BLOB_VERSION, keyIdBytes.length]), keyIdBytes, Buffer.from(m.id, 'hex')]);
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', aesKey, iv);
  cipher.setAAD(Buffer.concat([header, canonicalContext(context)]));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  aesKey.fill(0);
  return { blob: Buffer.concat([header, iv, cipher.getAuthTag(), body]), materialId: m.id };
}

function parseBlob(blob: Buffer): { keyId: string; materialId: string; header: Buffer; iv: Buffer; tag: Buffer; body: Buffer } | undefined {
  if (blob.length < 2 || blob[0] !== BLOB_VERSION) return undefined;
  const idLength = blob[1]!;
  const headerLength = 2 + idLength + 32;
  if (blob.length < headerLength + 12 + 16) return undefined;
  return {
    keyId: blob.subarray(2, 2 + idLength).toString('utf8'),
    materialId: blob.subarray(2 + idLength, headerLength).toString('hex'),
    header: blob.subarray(0, headerLength),
    iv: blob.subarray(headerLength, headerLength + 12),
    tag: blob.subarray(headerLength + 12, headerLength + 28),
    body: blob.subarray(headerLength + 28),
  };
}

interface Opened {
  key: KeyRecord;
  plaintext: Buffer;
  algorithm: EncryptionAlgorithm;
  materialId?: string;
}

function openCiphertext(
  kms: KmsContext,
  ctx: OperationContext,
  blob: Buffer,
  keyIdInput: string | undefined,
  context: Record<string, string> | undefined,
  algorithmInput: EncryptionAlgorithm | undefined,
  operation: string,
): Opened {
  const now = ctx.clock.now();
  const named = keyIdInput !== undefined ? resolveKey(kms.state, ctx.scope, now, keyIdInput) : undefined;
  if (named && SPECS[named.keySpec].family === 'rsa') {
    usableKey(named, 'ENCRYPT_DECRYPT', operation);
    if (algorithmInput === undefined || algorithmInput === 'SYMMETRIC_DEFAULT') {
      throw kmsError('InvalidKeyUsageException', `${named.arn} is an asymmetric key; ${operation} needs EncryptionAlgorithm RSAES_OAEP_SHA_1 or RSAES_OAEP_SHA_256.`);
    }
    const current = currentMaterial(named)!;
    try {
      const plaintext = privateDecrypt(
        { key: privateKeyOf(presentMaterial(named, current, operation).toString('base64')), padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: algorithmInput === 'RSAES_OAEP_SHA_1' ? 'sha1' : 'sha256' },
        blob,
      );
      return { key: named, plaintext, algorithm: algorithmInput, materialId: current.id };
    } catch {
      throw kmsError('InvalidCiphertextException', `The ciphertext cannot be decrypted with ${named.arn} and ${algorithmInput}: wrong key, algorithm or corrupted ciphertext.`);
    }
  }
  if (algorithmInput !== undefined && algorithmInput !== 'SYMMETRIC_DEFAULT') {
    throw kmsError('InvalidKeyUsageException', `EncryptionAlgorithm ${algorithmInput} needs an asymmetric RSA key; name it in KeyId.`);
  }
  const parsed = parseBlob(blob);
  if (!parsed) throw kmsError('InvalidCiphertextException', `The ciphertext is not a symmetric KMS ciphertext blob produced by this endpoint.`);
  if (named && named.keyId !== parsed.keyId) {
    throw kmsError('IncorrectKeyException', `The ciphertext was encrypted under key ${parsed.keyId}, not under ${named.arn}; call ${operation} with the key that encrypted it (or without KeyId).`);
  }
  const key = named ?? resolveKey(kms.state, ctx.scope, now, parsed.keyId);
  usableKey(key, 'ENCRYPT_DECRYPT', operation);
  if (SPECS[key.keySpec].family !== 'symmetric') {
    throw kmsError('InvalidCiphertextException', `The ciphertext names ${key.arn}, which is not a symmetric encryption key.`);
  }
  const m = key.materials.find((x) => x.id === parsed.materialId);
  if (!m) {
    throw kmsError('InvalidCiphertextException', `The ciphertext was made with key material ${parsed.materialId}, which is not associated with ${key.arn}.`);
  }
  const aesKey = presentMaterial(key, m, operation);
  try {
    const decipher = createDecipheriv('aes-256-gcm', aesKey, parsed.iv);
    decipher.setAAD(Buffer.concat([parsed.header, canonicalContext(context)]));
    decipher.setAuthTag(parsed.tag);
    const plaintext = Buffer.concat([decipher.update(parsed.body), decipher.final()]);
    return { key, plaintext, algorithm: 'SYMMETRIC_DEFAULT', materialId: m.id };
  } catch {
    throw kmsError(
      'InvalidCiphertextException',
      `The ciphertext cannot be decrypted with ${key.arn}: the encryption context differs from the one used to encrypt, or the ciphertext is corrupted.`,
    );
  } finally {
    aesKey.fill(0);
  }
}

function sealWith(key: KeyRecord, plaintext: Buffer, context: Record<string, string> | undefined, algorithm: EncryptionAlgorithm | undefined, operation: string) {
  usableKey(key, 'ENCRYPT_DECRYPT', operation);
  if (SPECS[key.keySpec].family === 'rsa') {
    if (algorithm === undefined || algorithm === 'SYMMETRIC_DEFAULT') {
      throw kmsError('InvalidKeyUsageException', `${key.arn} is an asymmetric key; ${operation} needs EncryptionAlgorithm RSAES_OAEP_SHA_1 or RSAES_OAEP_SHA_256.`);
    }
    const m = currentMaterial(key)!;
    const publicKey = createPublicKey(privateKeyOf(presentMaterial(key, m, operation).toString('base64')));
    const hash = algorithm === 'RSAES_OAEP_SHA_1' ? 'sha1' : 'sha256';
    const maxBytes = (publicKey.asymmetricKeyDetails!.modulusLength! / 8) - 2 * (hash === 'sha1' ? 20 : 32) - 2;
    if (plaintext.length > maxBytes) {
      throw kmsError('ValidationException', `Plaintext of ${plaintext.length} bytes is too long for ${key.keySpec} with ${algorithm}; the maximum is ${maxBytes} bytes.`);
    }
    return { blob: publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: hash }, plaintext), algorithm, materialId: m.id };
  }
  if (algorithm !== undefined && algorithm !== 'SYMMETRIC_DEFAULT') {
    throw kmsError('InvalidKeyUsageException', `${key.arn} is a symmetric key; EncryptionAlgorithm ${algorithm} needs an RSA key. Use SYMMETRIC_DEFAULT.`);
  }
  const sealed = sealSymmetric(key, plaintext, context);
  return { blob: sealed.blob, algorithm: 'SYMMETRIC_DEFAULT' as const, materialId: sealed.materialId };
}

export function encrypt(kms: KmsContext, input: Input, ctx: OperationContext) {
  const key = resolveKey(kms.state, ctx.scope, ctx.clock.now(), requiredString(input, 'KeyId', { max: 2048 }));
  const plaintext = requiredBlob(input, 'Plaintext', { max: 4096 });
  const context = optionalStringMap(input, 'EncryptionContext');
  const algorithm = optionalEnum(input, 'EncryptionAlgorithm', ENCRYPTION_ALGORITHMS);
  const sealed = sealWith(key, plaintext, context, algorithm, 'Encrypt');
  return { CiphertextBlob: sealed.blob.toString('base64'), KeyId: key.arn, EncryptionAlgorithm: sealed.algorithm };
}

export function decrypt(kms: KmsContext, input: Input, ctx: OperationContext) {
  const blob = requiredBlob(input, 'CiphertextBlob', { max: 6144 });
  const opened = openCiphertext(
    kms,
    ctx,
    blob,
    optionalString(input, 'KeyId', { max: 2048 }),
    optionalStringMap(input, 'EncryptionContext'),
    optionalEnum(input, 'EncryptionAlgorithm', ENCRYPTION_ALGORITHMS),
    'Decrypt',
  );
  return {
    KeyId: opened.key.arn,
    Plaintext: opened.plaintext.toString('base64'),
    EncryptionAlgorithm: opened.algorithm,
    ...(opened.materialId && SPECS[opened.key.keySpec].family === 'symmetric' ? { KeyMaterialId: opened.materialId } : {}),
  };
}

function dataKeyLength(input: Input): number {
  const spec = optionalEnum(input, 'KeySpec', ['AES_128', 'AES_256'] as const);
  const bytes = optionalInteger(input, 'NumberOfBytes', 1, 1024);
  if (spec !== undefined && bytes !== undefined) {
    throw kmsError('ValidationException', 'Specify either KeySpec or NumberOfBytes, not both.');
  }
  if (spec === undefined && bytes === undefined) {
    throw kmsError('ValidationException', 'Specify KeySpec (AES_128 or AES_256) or NumberOfBytes for the data key.');
  }
  return spec === 'AES_128' ? 16 : spec === 'AES_256' ? 32 : bytes!;
}

function generateDataKeyCommon(kms: KmsContext, input: Input, ctx: OperationContext, operation: string) {
  const key = resolveKey(kms.state, ctx.scope, ctx.clock.now(), requiredString(input, 'KeyId', { max: 2048 }));
  const context = optionalStringMap(input, 'EncryptionContext');
  const length = dataKeyLength(input);
  usableKey(key, 'ENCRYPT_DECRYPT', operation);
  if (SPECS[key.keySpec].family !== 'symmetric') {
    throw kmsError('InvalidKeyUsageException', `${key.arn} is an asymmetric key; ${operation} needs a symmetric encryption key.`);
  }
  const plaintext = randomBytes(length);
  const sealed = sealSymmetric(key, plaintext, context);
  return { key, plaintext, sealed };
}

export function generateDataKey(kms: KmsContext, input: Input, ctx: OperationContext) {
  const { key, plaintext, sealed } = generateDataKeyCommon(kms, input, ctx, 'GenerateDataKey');
  return { CiphertextBlob: sealed.blob.toString('base64'), Plaintext: plaintext.toString('base64'), KeyId: key.arn, KeyMaterialId: sealed.materialId };
}

export function generateDataKeyWithoutPlaintext(kms: KmsContext, input: Input, ctx: OperationContext) {
  const { key, plaintext, sealed } = generateDataKeyCommon(kms, input, ctx, 'GenerateDataKeyWithoutPlaintext');
  plaintext.fill(0);
  return { CiphertextBlob: sealed.blob.toString('base64'), KeyId: key.arn, KeyMaterialId: sealed.materialId };
}

export function reEncrypt(kms: KmsContext, input: Input, ctx: OperationContext) {
  const blob = requiredBlob(input, 'CiphertextBlob', { max: 6144 });
  const destinationId = requiredString(input, 'DestinationKeyId', { max: 2048 });
  const opened = openCiphertext(
    kms,
    ctx,
    blob,
    optionalString(input, 'SourceKeyId', { max: 2048 }),
    optionalStringMap(input, 'SourceEncryptionContext'),
    optionalEnum(input, 'SourceEncryptionAlgorithm', ENCRYPTION_ALGORITHMS),
    'ReEncrypt',
  );
  const destination = resolveKey(kms.state, ctx.scope, ctx.clock.now(), destinationId);
  try {
    const sealed = sealWith(
      destination,
      opened.plaintext,
      optionalStringMap(input, 'DestinationEncryptionContext'),
      optionalEnum(input, 'DestinationEncryptionAlgorithm', ENCRYPTION_ALGORITHMS),
      'ReEncrypt',
    );
    return {
      CiphertextBlob: sealed.blob.toString('base64'),
      SourceKeyId: opened.key.arn,
      KeyId: destination.arn,
      SourceEncryptionAlgorithm: opened.algorithm,
      DestinationEncryptionAlgorithm: sealed.algorithm,
      ...(opened.materialId ? { SourceKeyMaterialId: opened.materialId } : {}),
      DestinationKeyMaterialId: sealed.materialId,
    };
  } finally {
    opened.plaintext.fill(0);
  }
}

// ---- asymmetric ----

function asymmetricKey(key: KeyRecord, operation: string) {
  const family = SPECS[key.keySpec].family;
  if (family !== 'rsa' && family !== 'ecc') {
    throw kmsError('UnsupportedOperationException', `${key.arn} is a ${key.keySpec} key; ${operation} works only on asymmetric (RSA or ECC) keys.`);
  }
  const m = currentMaterial(key)!;
  return privateKeyOf(presentMaterial(key, m, operation).toString('base64'));
}

export function getPublicKey(kms: KmsContext, input: Input, ctx: OperationContext) {
  const key = resolveKey(kms.state, ctx.scope, ctx.clock.now(), requiredString(input, 'KeyId', { max: 2048 }));
  const family = SPECS[key.keySpec].family;
  if (family !== 'rsa' && family !== 'ecc') {
    throw kmsError('UnsupportedOperationException', `${key.arn} is a ${key.keySpec} key; GetPublicKey works only on asymmetric (RSA or ECC) keys.`);
  }
  usableKey(key, key.keyUsage, 'GetPublicKey');
  const publicKey = createPublicKey(asymmetricKey(key, 'GetPublicKey')).export({ format: 'der', type: 'spki' });
  return {
    KeyId: key.arn,
    PublicKey: publicKey.toString('base64'),
    CustomerMasterKeySpec: key.keySpec,
    KeySpec: key.keySpec,
    KeyUsage: key.keyUsage,
    ...algorithmsFor(key.keySpec, key.keyUsage),
  };
}

function signingInput(kms: KmsContext, input: Input, ctx: OperationContext, operation: string) {
  const key = resolveKey(kms.state, ctx.scope, ctx.clock.now(), requiredString(input, 'KeyId', { max: 2048 }));
  const message = requiredBlob(input, 'Message', { max: 4096 });
  const messageType = optionalEnum(input, 'MessageType', ['RAW', 'DIGEST', 'EXTERNAL_MU'] as const) ?? 'RAW';
  const algorithm = requiredEnum(input, 'SigningAlgorithm', SIGNING_ALGORITHMS);
  usableKey(key, 'SIGN_VERIFY', operation);
  if (!(SPECS[key.keySpec].signing ?? []).includes(algorithm)) {
    throw kmsError('InvalidKeyUsageException', `${key.arn} (${key.keySpec}) does not support SigningAlgorithm ${algorithm}; use ${(SPECS[key.keySpec].signing ?? []).join(', ')}.`);
  }
  if (messageType === 'EXTERNAL_MU') {
    throw kmsError('ValidationException', `MessageType EXTERNAL_MU is only for ML-DSA keys; use RAW or DIGEST with ${key.arn}.`);
  }
  if (messageType === 'DIGEST' && message.length !== hashOf(algorithm).bytes) {
    throw kmsError('ValidationException', `With MessageType DIGEST and ${algorithm} the message must be a ${hashOf(algorithm).bytes}-byte digest; got ${message.length} bytes.`);
  }
  return { key, message, isDigest: messageType === 'DIGEST', algorithm, privateKey: asymmetricKey(key, operation) };
}

export function signOperation(kms: KmsContext, input: Input, ctx: OperationContext) {
  const s = signingInput(kms, input, ctx, 'Sign');
  return { KeyId: s.key.arn, Signature: signMessage(s.algorithm, s.privateKey, s.message, s.isDigest).toString('base64'), SigningAlgorithm: s.algorithm };
}

export function verifyOperation(kms: KmsContext, input: Input, ctx: OperationContext) {
  const signature = requiredBlob(input, 'Signature', { max: 6144 });
  const s = signingInput(kms, input, ctx, 'Verify');
  if (!verifySignature(s.algorithm, s.privateKey, s.message, s.isDigest, signature)) {
    throw kmsError('KMSInvalidSignatureException', `The signature is not valid for this message under ${s.key.arn} with ${s.algorithm}.`);
  }
  return { KeyId: s.key.arn, SignatureValid: true, SigningAlgorithm: s.algorithm };
}

// ---- HMAC ----

function macInput(kms: KmsContext, input: Input, ctx: OperationContext, operation: string) {
  const key = resolveKey(kms.state, ctx.scope, ctx.clock.now(), requiredString(input, 'KeyId', { max: 2048 }));
  const message = requiredBlob(input, 'Message', { max: 4096 });
  const algorithm = requiredEnum(input, 'MacAlgorithm', MAC_ALGORITHMS);
  usableKey(key, 'GENERATE_VERIFY_MAC', operation);
  if (SPECS[key.keySpec].macAlgorithm !== algorithm) {
    throw kmsError('InvalidKeyUsageException', `${key.arn} (${key.keySpec}) does not support MacAlgorithm ${algorithm}; use ${SPECS[key.keySpec].macAlgorithm}.`);
  }
  const material = presentMaterial(key, currentMaterial(key)!, operation);
  const mac = createHmac(hashOf(algorithm).hash, material).update(message).digest();
  material.fill(0);
  return { key, algorithm, mac };
}

export function generateMac(kms: KmsContext, input: Input, ctx: OperationContext) {
  const m = macInput(kms, input, ctx, 'GenerateMac');
  return { Mac: m.mac.toString('base64'), MacAlgorithm: m.algorithm, KeyId: m.key.arn };
}

export function verifyMac(kms: KmsContext, input: Input, ctx: OperationContext) {
  const given = requiredBlob(input, 'Mac', { max: 6144 });
  const m = macInput(kms, input, ctx, 'VerifyMac');
  if (given.length !== m.mac.length || !timingSafeEqual(given, m.mac)) {
    throw kmsError('KMSInvalidMacException', `The MAC is not valid for this message under ${m.key.arn} with ${m.algorithm}.`);
  }
  return { KeyId: m.key.arn, MacValid: true, MacAlgorithm: m.algorithm };
}

export function generateRandom(_kms: KmsContext, input: Input) {
  const bytes = optionalInteger(input, 'NumberOfBytes', 1, 1024);
  if (bytes === undefined) throw validationError('numberOfBytes', 'null', 'Member must not be null');
  return { Plaintext: randomBytes(bytes).toString('base64') };
}

