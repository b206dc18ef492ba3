/**
 * A material file (PlaintextKeyMaterial.bin, the seed's file) or standard input, read ONCE into one
 * buffer that the caller wipes: never copied to another file, never decoded into a string. Refusals
 * (missing, unreadable, a directory, empty, too large, not material of the key's spec) are
 * MaterialFileInvalid: bad input, nothing changed. Messages name the file and the fix, never a byte
 * of it.
 */
import { open } from 'node:fs/promises';
import { EscrowInvalid, MaterialFileInvalid } from '../errors.js';
import { validateMaterial } from '../escrow/material.js';
import { materialKindFor } from '../kms/key-specs.js';

/** Larger than any importable material (an RSA_4096 PKCS#8 DER private key is about 2.4 KB). */
export const MAX_MATERIAL_FILE_BYTES = 16 * 1024;

function tooLarge(source: string): MaterialFileInvalid {
  return new MaterialFileInvalid(
    `${source} is larger than ${MAX_MATERIAL_FILE_BYTES} bytes: it is not key material (symmetric material is 32 bytes, HMAC 28 to 64, an RSA_4096 PKCS#8 DER key about 2.4 KB). Give the PlaintextKeyMaterial.bin the key was imported with. Nothing was changed.`,
  );
}

function empty(source: string): MaterialFileInvalid {
  return new MaterialFileInvalid(`${source} is empty. Give the PlaintextKeyMaterial.bin the key was imported with (binary, as openssl wrote it). Nothing was changed.`);
}

/** Reads a material file once: a regular file, 1 to MAX_MATERIAL_FILE_BYTES bytes. The caller wipes the buffer. */
export async function readMaterialFile(path: string): Promise<Buffer> {
  const source = `Material file ${path}`;
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (e) {
    const code = (e as { code?: string }).code;
    const why = code === 'ENOENT' ? 'does not exist' : code === 'EACCES' || code === 'EPERM' ? 'cannot be read (permission denied)' : `cannot be opened (${code ?? 'error'})`;
    throw new MaterialFileInvalid(`${source} ${why}. Check the path and its permissions. Nothing was changed.`);
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw new MaterialFileInvalid(`${source} is not a regular file${stat.isDirectory() ? ' (it is a directory)' : ''}. Give the path of the material file; for a pipe use --material-stdin. Nothing was changed.`);
    if (stat.size === 0) throw empty(source);
    if (stat.size > MAX_MATERIAL_FILE_BYTES) throw tooLarge(source);
    const buffer = Buffer.alloc(stat.size);
    let filled = 0;
    try {
      while (filled < buffer.length) {
        const { bytesRead } = await handle.read(buffer, filled, buffer.length - filled, filled);
        if (bytesRead === 0) break;
        filled += bytesRead;
      }
    } catch (e) {
      buffer.fill(0);
      throw new MaterialFileInvalid(`${source} could not be read (${(e as { code?: string }).code ?? 'error'}). Nothing was changed.`);
    }
    if (filled !== buffer.length) {
      buffer.fill(0);
      throw new MaterialFileInvalid(`${source} changed while it was read (${filled} of ${stat.size} bytes). Read it again when nothing writes it. Nothing was changed.`);
    }
    return buffer;
  } finally {
    await handle.close();
  }
}

/** Reads material from a stream (standard input) once; every chunk is wiped once joined. */
export async function readMaterialStream(stream: AsyncIterable<Buffer | string>, source = 'Standard input'): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let length = 0;
  try {
    for await (const chunk of stream) {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : (chunk as Buffer);
      chunks.push(bytes);
      length += bytes.length;
      if (length > MAX_MATERIAL_FILE_BYTES) throw tooLarge(source);
    }
    if (length === 0) throw empty(source);
    return Buffer.concat(chunks, length);
  } finally {
    for (const c of chunks) c.fill(0);
  }
}

/**
 * Throws MaterialFileInvalid unless `material` is what KMS imports for `keySpec` (the checks of
 * validateMaterial, said of a file): raw bytes of the spec's length, or an unencrypted PKCS#8 DER
 * private key of the right type and size.
 */
export function checkMaterialFile(keySpec: string, material: Buffer, keyId: string, source: string): void {
  const kind = materialKindFor(keySpec);
  if (kind?.type === 'raw' && material.length !== kind.length) {
    throw new MaterialFileInvalid(
      `${source} is ${material.length} bytes; key ${keyId} is ${keySpec} and its material is exactly ${kind.length} raw bytes ` +
        `(binary, as \`openssl rand -out PlaintextKeyMaterial.bin ${kind.length}\` writes it; not hex or base64 text, no newline). ` +
        `Give the file the key was imported with. Nothing was changed.`,
      { keyId },
    );
  }
  try {
    validateMaterial(keySpec, material, keyId);
  } catch (e) {
    if (!(e instanceof EscrowInvalid)) throw e;
    throw new MaterialFileInvalid(`${source} is not ${keySpec} key material for key ${keyId}: ${e.message} Nothing was changed.`, { keyId });
  }
}
