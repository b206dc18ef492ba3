/** Shared builders for lib unit tests (not a test file itself). */
import type { KeyReport } from '../../lib/types.js';

export const KEY_ID = '1234abcd-12ab-34cd-56ef-1234567890ab';
export const KEY_ARN = `arn:aws:kms:us-east-1:111122223333:key/${KEY_ID}`;
export const MATERIAL_ID_A = 'a'.repeat(64);
export const MATERIAL_ID_B = 'b'.repeat(64);

export function makeReport(overrides: Partial<KeyReport> = {}): KeyReport {
  return {
    keyId: KEY_ID,
    arn: KEY_ARN,
    requestedRef: KEY_ID,
    keyState: 'Enabled',
    origin: 'EXTERNAL',
    keySpec: 'SYMMETRIC_DEFAULT',
    keyUsage: 'ENCRYPT_DECRYPT',
    multiRegion: false,
    expirationModel: 'KEY_MATERIAL_EXPIRES',
    validTo: '2027-06-01T00:00:00.000Z',
    tags: { 'kms-reimport:managed': 'true' },
    materials: [],
    ...overrides,
  };
}

/** An error shaped like an SDK ServiceException. */
export function awsError(name: string, status = 400, extra: Record<string, unknown> = {}): Error {
  return Object.assign(new Error(`${name}: simulated by the test`), {
    name,
    $fault: status >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode: status },
    ...extra,
  });
}

export const noSleep = async (_ms: number): Promise<void> => {};

/** Fails if the material shows up in the text raw, as hex (either case) or as base64/base64url. */
export function assertNoMaterial(text: string, material: Buffer, label: string): void {
  const forms = [material.toString('hex'), material.toString('hex').toUpperCase(), material.toString('base64'), material.toString('base64url'), material.toString('base64').replace(/=+$/, '')];
  for (const form of forms) {
    if (text.includes(form)) throw new Error(`${label}: key material found in the text (${form.length} chars encoded)`);
  }
  if (Buffer.from(text, 'utf8').includes(material) || Buffer.from(text, 'latin1').includes(material)) {
    throw new Error(`${label}: raw key material found in the text`);
  }
}
