/**
 * Proof that a key works after import: it is Enabled, and a cryptographic round trip that fits
 * its usage succeeds. Only random test data is used, never key material.
 */
import {
  DecryptCommand,
  DeriveSharedSecretCommand,
  EncryptCommand,
  GenerateMacCommand,
  GetPublicKeyCommand,
  SignCommand,
  VerifyCommand,
  VerifyMacCommand,
  type EncryptionAlgorithmSpec,
  type KeyAgreementAlgorithmSpec,
  type KMSClient,
  type MacAlgorithmSpec,
  type SigningAlgorithmSpec,
} from '@aws-sdk/client-kms';
import { createPublicKey, diffieHellman, generateKeyPairSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { DEFAULT_CONFIG } from '../config.js';
import { awsErrorName, isReimportError, VerificationFailed } from '../errors.js';
import { backoffCap, callWithRetry, type RetryOptions } from '../retry.js';
import type { KeyReport } from '../types.js';
import { describeKeyMetadata } from './inspect.js';
import { defaultMacAlgorithm, defaultSigningAlgorithm, materialKindFor } from './key-specs.js';

export interface VerifyResult {
  verified: true;
  keyState: string;
  /** Which round trip proved it, e.g. "Encrypt/Decrypt SYMMETRIC_DEFAULT". */
  check: string;
}

/** After an import, the key is Disabled: someone disabled it (on purpose, we assume); nothing was tried on it. */
export interface LeftDisabledResult {
  verified: false;
  keyState: 'Disabled';
}

/**
 * The encryption context of the symmetric Encrypt/Decrypt probe. The verify function's IAM policy
 * allows kms:Encrypt/kms:Decrypt on symmetric keys only with exactly this context
 * (kms:EncryptionContext:kms-reimport:probe = verify), so the role cannot decrypt anyone's data.
 */
export const VERIFY_ENCRYPTION_CONTEXT: Readonly<Record<string, string>> = Object.freeze({ 'kms-reimport:probe': 'verify' });

const DEFAULT_RETRY: RetryOptions = { maxAttempts: DEFAULT_CONFIG.maxAttempts, baseDelayMs: DEFAULT_CONFIG.baseDelayMs };
const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function fail(report: KeyReport, what: string, cause?: unknown): VerificationFailed {
  return new VerificationFailed(
    `Verification of key ${report.keyId} failed: ${what}. The import may not have taken effect: inspect the key (aws kms describe-key --key-id ${report.keyId}) and run recovery again.`,
    { keyId: report.keyId, cause },
  );
}

async function waitForEnabled(kms: KMSClient, report: KeyReport, retry: RetryOptions, acceptDisabled = false): Promise<string> {
  const sleep = retry.sleep ?? realSleep;
  const random = retry.random ?? Math.random;
  for (let attempt = 1; ; attempt++) {
    const m = await describeKeyMetadata(kms, report.keyId, retry);
    const state = m.KeyState ?? 'Unknown';
    if (state === 'Enabled' || (acceptDisabled && state === 'Disabled')) return state;
    // Right after an import KMS may still report PendingImport for a moment: wait a bounded while.
    if (state !== 'PendingImport' || attempt >= retry.maxAttempts) {
      throw fail(report, `the key is ${state}, not Enabled, after the import${state === 'PendingImport' ? ' (another material may still be missing)' : ''}`);
    }
    await sleep(Math.floor(random() * backoffCap(attempt, retry.baseDelayMs, retry.maxDelayMs)));
  }
}

function same(a: Uint8Array | undefined, b: Uint8Array): boolean {
  return a !== undefined && a.length === b.length && timingSafeEqual(a, b);
}

/** The key is Enabled after the import and does a cryptographic round trip that fits its usage; else VerificationFailed. */
export async function verifyKey(kms: KMSClient, report: KeyReport, retry: RetryOptions = DEFAULT_RETRY): Promise<VerifyResult> {
  return roundTrip(kms, report, retry, await waitForEnabled(kms, report, retry));
}

/**
 * verifyKey, except that a key found Disabled after the import is reported as such (verified
 * false), not a failure: a key disabled on purpose whose material ran out shows PendingImport,
 * gets its material back, and stays Disabled. No round trip is attempted on it (it would fail,
 * and a run again would change nothing).
 */
export async function verifyUnlessDisabled(kms: KMSClient, report: KeyReport, retry: RetryOptions = DEFAULT_RETRY): Promise<VerifyResult | LeftDisabledResult> {
  const keyState = await waitForEnabled(kms, report, retry, true);
  if (keyState === 'Disabled') return { verified: false, keyState: 'Disabled' };
  return roundTrip(kms, report, retry, keyState);
}

/** Errors of a round trip's first call that mean "the key is not usable now", not "the round trip is wrong". */
const NOT_USABLE_NOW = new Set(['DisabledException', 'KMSInvalidStateException']);

/**
 * verifyUnlessDisabled for a run that has just imported: the import's answer already says the
 * material is back, so the round trip goes first, without a DescribeKey before it (one round trip
 * less on the critical path). Only when KMS refuses the probe because of the key's state
 * (DisabledException, KMSInvalidStateException) is the key described, as verifyUnlessDisabled
 * does: a key found Disabled is left Disabled as found (verified false); a key still PendingImport
 * is waited for a bounded while, then tried again; any other state is VerificationFailed naming it.
 */
export async function verifyAfterImport(kms: KMSClient, report: KeyReport, retry: RetryOptions = DEFAULT_RETRY): Promise<VerifyResult | LeftDisabledResult> {
  try {
    // Encrypt (or Sign, GenerateMac, ...) succeeds on an Enabled key only.
    return await roundTrip(kms, report, retry, 'Enabled');
  } catch (e) {
    if (!(e instanceof VerificationFailed) || !NOT_USABLE_NOW.has(awsErrorName(e.cause) ?? '')) throw e;
  }
  const keyState = await waitForEnabled(kms, report, retry, true);
  if (keyState === 'Disabled') return { verified: false, keyState: 'Disabled' };
  return roundTrip(kms, report, retry, keyState);
}

async function roundTrip(kms: KMSClient, report: KeyReport, retry: RetryOptions, keyState: string): Promise<VerifyResult> {
  const KeyId = report.keyId;
  const call = <T>(operation: string, fn: () => Promise<T>) => callWithRetry({ operation, keyId: KeyId }, fn, retry);
  const probe = randomBytes(32);
  let check: string;
  try {
    if (report.keyUsage === 'ENCRYPT_DECRYPT') {
      const algorithm = (report.keySpec === 'SYMMETRIC_DEFAULT' ? 'SYMMETRIC_DEFAULT' : 'RSAES_OAEP_SHA_256') as EncryptionAlgorithmSpec;
      if (report.keySpec !== 'SYMMETRIC_DEFAULT' && materialKindFor(report.keySpec)?.type !== 'rsa') {
        throw fail(report, `no round trip is known for ${report.keySpec} with ENCRYPT_DECRYPT`);
      }
      // The probe's encryption context lets IAM limit the verify role's Encrypt/Decrypt to this round
      // trip (template.yaml). KMS takes a context with symmetric keys only; RSA keys get none.
      const context = algorithm === 'SYMMETRIC_DEFAULT' ? { EncryptionContext: { ...VERIFY_ENCRYPTION_CONTEXT } } : {};
      const enc = await call('Encrypt', () => kms.send(new EncryptCommand({ KeyId, Plaintext: probe, EncryptionAlgorithm: algorithm, ...context })));
      if (!enc?.CiphertextBlob) throw fail(report, 'Encrypt returned no ciphertext');
      const dec = await call('Decrypt', () => kms.send(new DecryptCommand({ KeyId, CiphertextBlob: enc.CiphertextBlob, EncryptionAlgorithm: algorithm, ...context })));
      if (!same(dec?.Plaintext, probe)) throw fail(report, `Decrypt did not return what Encrypt (${algorithm}) was given`);
      check = `Encrypt/Decrypt ${algorithm}`;
    } else if (report.keyUsage === 'SIGN_VERIFY') {
      const algorithm = (report.signingAlgorithms?.[0] ?? defaultSigningAlgorithm(report.keySpec)) as SigningAlgorithmSpec | undefined;
      if (!algorithm) throw fail(report, `no signing algorithm is known for ${report.keySpec}`);
      const signed = await call('Sign', () => kms.send(new SignCommand({ KeyId, Message: probe, MessageType: 'RAW', SigningAlgorithm: algorithm })));
      if (!signed?.Signature) throw fail(report, 'Sign returned no signature');
      const verified = await call('Verify', () =>
        kms.send(new VerifyCommand({ KeyId, Message: probe, MessageType: 'RAW', SigningAlgorithm: algorithm, Signature: signed.Signature })),
      );
      if (verified?.SignatureValid !== true) throw fail(report, `Verify (${algorithm}) did not accept the signature Sign made`);
      check = `Sign/Verify ${algorithm}`;
    } else if (report.keyUsage === 'GENERATE_VERIFY_MAC') {
      const algorithm = (report.macAlgorithms?.[0] ?? defaultMacAlgorithm(report.keySpec)) as MacAlgorithmSpec | undefined;
      if (!algorithm) throw fail(report, `no MAC algorithm is known for ${report.keySpec}`);
      const mac = await call('GenerateMac', () => kms.send(new GenerateMacCommand({ KeyId, Message: probe, MacAlgorithm: algorithm })));
      if (!mac?.Mac) throw fail(report, 'GenerateMac returned no MAC');
      const ok = await call('VerifyMac', () => kms.send(new VerifyMacCommand({ KeyId, Message: probe, MacAlgorithm: algorithm, Mac: mac.Mac })));
      if (ok?.MacValid !== true) throw fail(report, `VerifyMac (${algorithm}) did not accept the MAC GenerateMac made`);
      check = `GenerateMac/VerifyMac ${algorithm}`;
    } else if (report.keyUsage === 'KEY_AGREEMENT') {
      const kind = materialKindFor(report.keySpec);
      if (kind?.type !== 'ec') throw fail(report, `no key agreement round trip is known for ${report.keySpec}`);
      const pub = await call('GetPublicKey', () => kms.send(new GetPublicKeyCommand({ KeyId })));
      if (!pub?.PublicKey) throw fail(report, 'GetPublicKey returned no public key');
      const ours = generateKeyPairSync('ec', { namedCurve: kind.namedCurve });
      const ourPublic = ours.publicKey.export({ format: 'der', type: 'spki' });
      const derived = await call('DeriveSharedSecret', () =>
        kms.send(new DeriveSharedSecretCommand({ KeyId, KeyAgreementAlgorithm: 'ECDH' as KeyAgreementAlgorithmSpec, PublicKey: ourPublic })),
      );
      const expected = diffieHellman({ privateKey: ours.privateKey, publicKey: createPublicKey({ key: Buffer.from(pub.PublicKey), format: 'der', type: 'spki' }) });
      const ok = same(derived?.SharedSecret, expected);
      expected.fill(0);
      if (!ok) throw fail(report, 'DeriveSharedSecret did not match a local ECDH with the key\'s public key');
      check = 'DeriveSharedSecret ECDH';
    } else {
      throw fail(report, `no round trip is known for key usage ${report.keyUsage}`);
    }
  } catch (e) {
    if (isReimportError(e)) throw e;
    throw fail(report, `${awsErrorName(e) ?? 'an error'} during the round trip`, e);
  } finally {
    probe.fill(0);
  }
  return { verified: true, keyState, check };
}

