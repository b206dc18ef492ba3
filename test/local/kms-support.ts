// Test support for the KMS emulation tests: an endpoint on a free port, SDK clients, and the
// client side of an import (material per key spec, wrapping) written here with node:crypto, from
// the KMS contract, independently of lib/ and of the endpoint's own code.
import { constants, createCipheriv, createPublicKey, generateKeyPairSync, publicEncrypt, randomBytes } from 'node:crypto';
import {
  CreateKeyCommand,
  GetParametersForImportCommand,
  ImportKeyMaterialCommand,
  type ImportKeyMaterialCommandInput,
  KMSClient,
} from '@aws-sdk/client-kms';
import { startLocalEndpoint, type LocalEndpoint, type LocalEndpointOptions } from '../../local/index.js';

export const START = Date.UTC(2031, 0, 15, 9, 0, 0);
export const DAY = 86_400;

export interface Harness {
  endpoint: LocalEndpoint;
  kms(region?: string, accessKeyId?: string): KMSClient;
  close(): Promise<void>;
}

export async function startHarness(options: LocalEndpointOptions = {}): Promise<Harness> {
  const endpoint = await startLocalEndpoint({ startTime: START, ...options });
  const clients: KMSClient[] = [];
  return {
    endpoint,
    kms(region = 'us-east-1', accessKeyId = 'AKIDEXAMPLE') {
      const client = new KMSClient({ endpoint: endpoint.url, region, credentials: { accessKeyId, secretAccessKey: 'x' }, maxAttempts: 1 });
      clients.push(client);
      return client;
    },
    async close() {
      for (const c of clients) c.destroy();
      await endpoint.close();
    },
  };
}

/** Raw material of the right shape for a key spec (PKCS#8 DER for asymmetric keys). */
export function materialFor(spec: string): Buffer {
  const lengths: Record<string, number> = { SYMMETRIC_DEFAULT: 32, HMAC_224: 28, HMAC_256: 32, HMAC_384: 48, HMAC_512: 64 };
  if (lengths[spec] !== undefined) return randomBytes(lengths[spec]!);
  if (spec.startsWith('RSA_')) {
    return generateKeyPairSync('rsa', { modulusLength: Number(spec.slice(4)) }).privateKey.export({ format: 'der', type: 'pkcs8' });
  }
  const curves: Record<string, string> = { ECC_NIST_P256: 'prime256v1', ECC_NIST_P384: 'secp384r1', ECC_NIST_P521: 'secp521r1', ECC_SECG_P256K1: 'secp256k1' };
  return generateKeyPairSync('ec', { namedCurve: curves[spec]! }).privateKey.export({ format: 'der', type: 'pkcs8' });
}

/** Wraps material under a GetParametersForImport public key (DER SPKI) as the wrapping algorithm says. */
export function wrap(algorithm: string, publicKeyDer: Uint8Array, material: Buffer): Buffer {
  const key = createPublicKey({ key: Buffer.from(publicKeyDer), format: 'der', type: 'spki' });
  const oaepHash = algorithm.endsWith('SHA_1') ? 'sha1' : 'sha256';
  if (algorithm.startsWith('RSAES_OAEP')) return publicEncrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash }, material);
  const aesKey = randomBytes(32);
  const cipher = createCipheriv('id-aes256-wrap-pad', aesKey, Buffer.from('A65959A6', 'hex'));
  const wrapped = Buffer.concat([cipher.update(material), cipher.final()]);
  return Buffer.concat([publicEncrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash }, aesKey), wrapped]);
}

export async function createExternalKey(kms: KMSClient, keySpec = 'SYMMETRIC_DEFAULT', extra: Record<string, unknown> = {}) {
  const keyUsage = keySpec.startsWith('HMAC') ? 'GENERATE_VERIFY_MAC' : keySpec.startsWith('ECC') ? 'SIGN_VERIFY' : keySpec.startsWith('RSA') ? 'SIGN_VERIFY' : 'ENCRYPT_DECRYPT';
  const out = await kms.send(new CreateKeyCommand({ Origin: 'EXTERNAL', KeySpec: keySpec as never, KeyUsage: keyUsage as never, ...extra }));
  return out.KeyMetadata!;
}

export interface ImportOptions {
  algorithm?: string;
  wrappingKeySpec?: string;
  validTo?: Date;
  extra?: Partial<ImportKeyMaterialCommandInput>;
}

/** GetParametersForImport + wrap + ImportKeyMaterial; returns the ImportKeyMaterial output. */
export async function importMaterial(kms: KMSClient, keyId: string, material: Buffer, endpointNowMs: number, opts: ImportOptions = {}) {
  const algorithm = opts.algorithm ?? 'RSAES_OAEP_SHA_256';
  const params = await kms.send(
    new GetParametersForImportCommand({ KeyId: keyId, WrappingAlgorithm: algorithm as never, WrappingKeySpec: (opts.wrappingKeySpec ?? 'RSA_2048') as never }),
  );
  const validTo = opts.validTo ?? new Date(Math.floor(endpointNowMs / 1000) * 1000 + 30 * DAY * 1000);
  return kms.send(
    new ImportKeyMaterialCommand({
      KeyId: keyId,
      ImportToken: params.ImportToken!,
      EncryptedKeyMaterial: wrap(algorithm, params.PublicKey!, material),
      ExpirationModel: 'KEY_MATERIAL_EXPIRES',
      ValidTo: validTo,
      ...opts.extra,
    }),
  );
}

/** Asserts a promise rejects with the named KMS error and a message matching `message`. */
export async function rejectsWith(promise: Promise<unknown>, name: string, message?: RegExp): Promise<Error> {
  try {
    await promise;
  } catch (err) {
    const e = err as Error;
    if (e.name !== name) throw new Error(`expected ${name}, got ${e.name}: ${e.message}`);
    if (message && !message.test(e.message)) throw new Error(`${name} message ${JSON.stringify(e.message)} does not match ${message}`);
    return e;
  }
  throw new Error(`expected ${name}, but the call succeeded`);
}
