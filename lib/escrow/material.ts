/**
 * Checking escrowed material against a key spec, and wiping buffers. Messages describe what is
 * wrong with the material (its length, type, encoding) and never any of its bytes.
 */
import { createPrivateKey } from 'node:crypto';
import { EscrowInvalid, KeyNotEligible } from '../errors.js';
import { IMPORTABLE_KEY_SPECS, materialKindFor } from '../kms/key-specs.js';

/** One material held in escrow. `material` is plaintext: never log, return or serialise it. */
export interface EscrowedMaterial {
  keyMaterialId?: string;
  material: Buffer;
  description?: string;
  importedAt?: string;
}

/** Zero-fills every buffer given (undefined/null entries are skipped). */
export function wipe(buffers: Iterable<Uint8Array | undefined | null> | Uint8Array | undefined | null): void {
  if (!buffers) return;
  if (buffers instanceof Uint8Array) {
    buffers.fill(0);
    return;
  }
  for (const b of buffers) b?.fill(0);
}

/** Zero-fills the material of every escrowed entry. */
export function wipeEscrowed(materials: Iterable<EscrowedMaterial> | undefined): void {
  if (!materials) return;
  for (const m of materials) m.material.fill(0);
}

const OPENSSL_DER_HINT = 'convert it with `openssl pkcs8 -topk8 -outform der -nocrypt -in key.pem -out PlaintextKeyMaterial.bin`';

// The hints below look at the bytes themselves: no string is ever made of (possible) material.
const isSpace = (b: number): boolean => b === 0x20 || (b >= 0x09 && b <= 0x0d);
const isHexDigit = (b: number): boolean => (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x46) || (b >= 0x61 && b <= 0x66);
const isBase64Char = (b: number): boolean =>
  (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || (b >= 0x30 && b <= 0x39) || b === 0x2b /* + */ || b === 0x2f; /* / */
const EQUALS = 0x3d;

/** The material without leading and trailing ASCII whitespace (a view, no copy). */
function trimmed(material: Buffer): Buffer {
  let start = 0;
  let end = material.length;
  while (start < end && isSpace(material[start] as number)) start++;
  while (end > start && isSpace(material[end - 1] as number)) end--;
  return material.subarray(start, end);
}

/** True when every byte is a hex digit and they spell exactly `expected` bytes. */
function isHexTextOf(text: Buffer, expected: number): boolean {
  return text.length === expected * 2 && text.every(isHexDigit);
}

/** True when the bytes are standard base64 (at most two trailing =) that decodes to exactly `expected` bytes. */
function isBase64TextOf(text: Buffer, expected: number): boolean {
  let padding = 0;
  while (padding < 2 && text.length - padding > 0 && text[text.length - 1 - padding] === EQUALS) padding++;
  const body = text.subarray(0, text.length - padding);
  if (body.length === 0 || !body.every(isBase64Char)) return false;
  return Math.floor((body.length * 6) / 8) === expected;
}

function rawHint(material: Buffer, expected: number): string {
  const text = trimmed(material);
  if (isHexTextOf(text, expected)) {
    return ' It looks like hex text: store the raw bytes instead (e.g. `xxd -r -p` then --secret-binary fileb://...).';
  }
  if (isBase64TextOf(text, expected)) {
    return ' It looks like base64 text: store the decoded bytes (--secret-binary fileb://...), or use the kms-reimport/v1 JSON format.';
  }
  return '';
}

const PEM_HEADER = Buffer.from('-----BEGIN ', 'latin1');

/**
 * Throws EscrowInvalid unless `material` is what KMS imports for `keySpec`: 32 bytes for
 * SYMMETRIC_DEFAULT, 28/32/48/64 bytes for HMAC_224/256/384/512, a PKCS#8 DER private key of
 * the right type and size (RSA_*) or curve (ECC_*). Unsupported key specs: KeyNotEligible.
 */
export function validateMaterial(keySpec: string, material: Uint8Array, keyId: string, secretId?: string): void {
  const where = secretId ? ` in escrow secret ${secretId}` : '';
  const kind = materialKindFor(keySpec);
  if (!kind) {
    throw new KeyNotEligible(
      `Key ${keyId} has key spec ${keySpec}, which kms-reimport cannot reimport (supported: ${IMPORTABLE_KEY_SPECS.join(', ')}). Remove the managed tag or handle it by hand.`,
      { keyId },
    );
  }
  const buf = Buffer.from(material.buffer, material.byteOffset, material.byteLength);
  if (buf.length === 0) {
    throw new EscrowInvalid(`The material${where} for key ${keyId} is empty. Store the original ${keySpec} material (the file imported before).`, { keyId });
  }
  if (kind.type === 'raw') {
    if (buf.length !== kind.length) {
      throw new EscrowInvalid(
        `The material${where} for key ${keyId} is ${buf.length} bytes; a ${keySpec} key needs exactly ${kind.length} raw bytes.${rawHint(buf, kind.length)} ` +
          `Replace it with the original material (PutSecretValue adds a version; nothing is overwritten).`,
        { keyId },
      );
    }
    return;
  }
  if (buf.subarray(0, PEM_HEADER.length).equals(PEM_HEADER)) {
    throw new EscrowInvalid(
      `The material${where} for key ${keyId} is PEM text; KMS imports the private key as binary PKCS#8 DER: ${OPENSSL_DER_HINT}, and store that file.`,
      { keyId },
    );
  }
  // OpenSSL (and so Node) parses the first DER element and ignores what follows it; KMS is sent the
  // bytes as they are. Anything after the PKCS#8 SEQUENCE is not the key's material: refuse it.
  const derLength = derElementLength(buf);
  if (derLength !== undefined && derLength !== buf.length) {
    throw new EscrowInvalid(
      `The material${where} for key ${keyId} has ${buf.length - derLength} byte(s) after its PKCS#8 private key (${derLength} bytes): ` +
        `it is not exactly the DER the key was imported with (a file with something appended, or two keys concatenated). ` +
        `Store the original PKCS#8 DER alone: ${OPENSSL_DER_HINT}.`,
      { keyId },
    );
  }
  let details: { type?: string; modulusLength?: number; namedCurve?: string };
  try {
    const key = createPrivateKey({ key: buf, format: 'der', type: 'pkcs8' });
    details = { type: key.asymmetricKeyType, ...key.asymmetricKeyDetails };
  } catch {
    throw new EscrowInvalid(
      `The material${where} for key ${keyId} is not an unencrypted PKCS#8 DER private key (a ${keySpec} key needs one; PKCS#1, SEC1, public keys and encrypted keys are refused): ${OPENSSL_DER_HINT}.`,
      { keyId },
    );
  }
  if (kind.type === 'rsa') {
    if (details.type !== 'rsa') {
      throw new EscrowInvalid(`The material${where} for key ${keyId} is a ${details.type ?? 'unknown'} private key; a ${keySpec} key needs an RSA private key.`, { keyId });
    }
    if (details.modulusLength !== kind.modulusLength) {
      throw new EscrowInvalid(
        `The material${where} for key ${keyId} is a ${details.modulusLength}-bit RSA key; a ${keySpec} key needs a ${kind.modulusLength}-bit one. Store the key's original material.`,
        { keyId },
      );
    }
    return;
  }
  if (details.type !== 'ec') {
    throw new EscrowInvalid(`The material${where} for key ${keyId} is a ${details.type ?? 'unknown'} private key; a ${keySpec} key needs an EC private key on ${kind.curveLabel}.`, { keyId });
  }
  if (details.namedCurve !== kind.namedCurve) {
    throw new EscrowInvalid(
      `The material${where} for key ${keyId} is an EC key on curve ${details.namedCurve ?? 'unknown'}; a ${keySpec} key needs ${kind.curveLabel} (${kind.namedCurve}). Store the key's original material.`,
      { keyId },
    );
  }
}

/**
 * The length of the DER element at the start of `buf` (tag, length octets and contents), or
 * undefined when it does not start with a SEQUENCE with a definite length that fits in the buffer
 * (the PKCS#8 parser then refuses it with its own message).
 */
function derElementLength(buf: Buffer): number | undefined {
  if (buf.length < 2 || buf[0] !== 0x30) return undefined;
  const first = buf[1] as number;
  if (first < 0x80) return 2 + first;
  const octets = first & 0x7f;
  if (octets === 0 || octets > 4 || buf.length < 2 + octets) return undefined;
  let length = 0;
  for (let i = 0; i < octets; i++) length = length * 256 + (buf[2 + i] as number);
  const total = 2 + octets + length;
  return total <= buf.length ? total : undefined;
}
