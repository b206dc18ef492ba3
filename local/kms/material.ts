// Key material: checking imported material against the key spec, identifying it, generating it.
import { createHmac, createPrivateKey, generateKeyPair, randomBytes, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { kmsError } from './errors.js';
import { type KeySpec, SPECS } from './specs.js';

const generateKeyPairAsync = promisify(generateKeyPair);

/**
 * Checks unwrapped material against the key spec and returns its canonical bytes (asymmetric
 * private keys re-encoded as PKCS#8 DER, so the same key always gets the same KeyMaterialId).
 * Never puts the material in a message.
 */
export function checkMaterial(spec: KeySpec, bytes: Buffer, keyArn: string): Buffer {
  const info = SPECS[spec];
  if (info.family === 'symmetric' || info.family === 'hmac') {
    if (bytes.length !== info.materialBytes) {
      throw kmsError(
        'IncorrectKeyMaterialException',
        `The key material for ${keyArn} (${spec}) must be exactly ${info.materialBytes} bytes of raw binary, but ${bytes.length} bytes were imported. Import the raw bytes, not hex or base64 text.`,
      );
    }
    return Buffer.from(bytes);
  }
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: bytes, format: 'der', type: 'pkcs8' });
  } catch {
    throw kmsError(
      'IncorrectKeyMaterialException',
      `The key material for ${keyArn} (${spec}) is not a DER-encoded PKCS#8 private key. Convert it with 'openssl pkcs8 -topk8 -outform der -nocrypt'.`,
    );
  }
  const details = key.asymmetricKeyDetails ?? {};
  if (info.family === 'rsa') {
    if (key.asymmetricKeyType !== 'rsa' || details.modulusLength !== info.modulusBits) {
      throw kmsError(
        'IncorrectKeyMaterialException',
        `The key material for ${keyArn} must be an RSA private key with a ${info.modulusBits}-bit modulus (${spec}); got ${describeKey(key)}.`,
      );
    }
  } else if (key.asymmetricKeyType !== 'ec' || details.namedCurve !== info.curve) {
    throw kmsError(
      'IncorrectKeyMaterialException',
      `The key material for ${keyArn} must be an EC private key on curve ${info.curve} (${spec}); got ${describeKey(key)}.`,
    );
  }
  return key.export({ format: 'der', type: 'pkcs8' });
}

function describeKey(key: KeyObject): string {
  const d = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'rsa') return `an RSA key with a ${d.modulusLength}-bit modulus`;
  if (key.asymmetricKeyType === 'ec') return `an EC key on curve ${d.namedCurve}`;
  return `a ${key.asymmetricKeyType} key`;
}

/** KeyMaterialId: 64 lowercase hex characters derived from the key ID and the material. */
export function materialId(keyId: string, canonical: Buffer): string {
  return createHmac('sha256', `kms-local-key-material:${keyId}`).update(canonical).digest('hex');
}

/** Fresh material for an AWS_KMS-origin key (or its rotation). */
export async function generateMaterial(spec: KeySpec): Promise<Buffer> {
  const info = SPECS[spec];
  if (info.family === 'symmetric' || info.family === 'hmac') return randomBytes(info.materialBytes!);
  if (info.family === 'rsa') {
    const { privateKey } = await generateKeyPairAsync('rsa', { modulusLength: info.modulusBits! });
    return privateKey.export({ format: 'der', type: 'pkcs8' });
  }
  const { privateKey } = await generateKeyPairAsync('ec', { namedCurve: info.curve! });
  return privateKey.export({ format: 'der', type: 'pkcs8' });
}

export function privateKeyOf(materialBase64: string): KeyObject {
  return createPrivateKey({ key: Buffer.from(materialBase64, 'base64'), format: 'der', type: 'pkcs8' });
}
