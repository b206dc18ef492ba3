/**
 * Properties of reading escrow (lib/escrow/format.ts parseEscrowSecret, lib/escrow/material.ts
 * validateMaterial) over generated secret values: raw SecretBinary of every length and of real
 * and mangled private keys (PKCS#8, PKCS#1, SEC1, SPKI, PEM, encrypted, other curves and types),
 * and kms-reimport/v1 JSON of every shape (wrong formats, duplicate and mixed-case KeyMaterialIds,
 * base64url, unpadded and whitespace base64, pending entries, unknown fields, arbitrary JSON and
 * text). For each:
 * - the only errors are EscrowInvalid (and KeyNotEligible for a key spec KMS cannot import);
 * - no error message carries the material, raw, hex, base64 or base64url;
 * - the caller's buffers are never the ones returned (wiping the result leaves the secret as it was);
 * - what parses well formats back to the same materials and IDs (a new version loses nothing);
 * - the real material of a key spec is accepted for it, a raw material of the wrong length never.
 */
import { test, describe, before } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { formatEscrowSecret, parseEscrowSecret, ESCROW_FORMAT_V1, PENDING_IMPORT_STATE, type EscrowSecretValue } from '../../lib/escrow/format.js';
import { validateMaterial, wipeEscrowed } from '../../lib/escrow/material.js';
import { IMPORTABLE_KEY_SPECS, materialKindFor } from '../../lib/kms/key-specs.js';
import { generateKeyMaterial } from '../../lib/material/generate.js';
import { EscrowInvalid, KeyNotEligible } from '../../lib/errors.js';
import { Produced, propertyParameters, runs, scenario } from './support.js';

const FILE = import.meta.url;
const CTX = { keyId: '1234abcd-12ab-34cd-56ef-1234567890ab', secretId: 'kms-reimport/1234abcd-12ab-34cd-56ef-1234567890ab' };
const KEY_SPECS = [...IMPORTABLE_KEY_SPECS, 'ECC_NIST_EDWARDS25519', 'ML_DSA_65', 'SM2', 'RSA_1024', ''];
const produced = new Produced();

/** Real materials for every importable key spec, and other private and public keys in other encodings. */
const real = new Map<string, Buffer>();
const others: Buffer[] = [];
before(async () => {
  for (const spec of IMPORTABLE_KEY_SPECS) real.set(spec, await generateKeyMaterial(spec));
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const ed = generateKeyPairSync('ed25519');
  const x = generateKeyPairSync('x25519');
  const pss = generateKeyPairSync('rsa-pss', { modulusLength: 2048 });
  others.push(
    rsa.privateKey.export({ format: 'der', type: 'pkcs1' }),
    rsa.publicKey.export({ format: 'der', type: 'spki' }),
    Buffer.from(rsa.privateKey.export({ format: 'pem', type: 'pkcs8' })),
    rsa.privateKey.export({ format: 'der', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase: 'p' }),
    ec.privateKey.export({ format: 'der', type: 'sec1' }),
    ec.publicKey.export({ format: 'der', type: 'spki' }),
    ed.privateKey.export({ format: 'der', type: 'pkcs8' }),
    x.privateKey.export({ format: 'der', type: 'pkcs8' }),
    pss.privateKey.export({ format: 'der', type: 'pkcs8' }),
  );
  for (const m of [...real.values(), ...others]) produced.material(m);
});

// ------------------------------------------------------------------ generators
/** Bytes as a secret may hold them: random, a real material, or one mangled (cut, extended, flipped, as text). */
const materialBytes: fc.Arbitrary<Buffer> = fc.oneof(
  { weight: 3, arbitrary: fc.uint8Array({ minLength: 0, maxLength: 600 }).map((a) => Buffer.from(a)) },
  { weight: 1, arbitrary: fc.constantFrom(0, 1, 16, 27, 28, 29, 31, 32, 33, 48, 64, 65).map((n) => randomBytes(n)) },
  {
    weight: 4,
    arbitrary: fc
      .tuple(
        fc.nat(),
        fc.constantFrom('as-is', 'cut', 'append', 'flip', 'prefix', 'hex-text', 'base64-text', 'base64url-text', 'length-byte'),
        fc.nat(),
        fc.uint8Array({ minLength: 1, maxLength: 8 }),
      )
      .map(([pick, how, at, extra]) => {
        const pool = [...real.values(), ...others];
        const base = Buffer.from(pool[pick % pool.length]!);
        switch (how) {
          case 'cut':
            return base.subarray(0, at % base.length);
          case 'append':
            return Buffer.concat([base, extra]);
          case 'flip': {
            base[at % base.length] = (base[at % base.length] as number) ^ (extra[0] as number || 1);
            return base;
          }
          case 'prefix':
            return Buffer.concat([extra, base]);
          case 'hex-text':
            return Buffer.from(base.toString('hex'));
          case 'base64-text':
            return Buffer.from(`${base.toString('base64')}\n`);
          case 'base64url-text':
            return Buffer.from(base.toString('base64url'));
          case 'length-byte':
            // A DER length octet changed: lengths that overrun, or claim fewer bytes than follow.
            if (base.length > 1) base[1] = (extra[0] as number) | 0x80;
            return base;
          default:
            return base;
        }
      }),
  },
);

const ids = ['a'.repeat(64), 'b'.repeat(64), '0123456789abcdef'.repeat(4)];
const keyMaterialId: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 8, arbitrary: fc.constantFrom(...ids) },
  { weight: 2, arbitrary: fc.constantFrom(...ids.map((i) => i.toUpperCase())) },
  { weight: 1, arbitrary: fc.constantFrom(null, undefined, '', 'a'.repeat(63), 'g'.repeat(64), ` ${ids[0]}`, 42, {}, []) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 1 }) },
);

/** The `material` field: base64 of bytes in every spelling people use, or something that is not base64. */
const materialField: fc.Arbitrary<{ text: unknown; bytes?: Buffer }> = fc.oneof(
  { weight: 12, arbitrary: materialBytes.map((b) => ({ text: b.toString('base64'), bytes: b })) },
  { weight: 1, arbitrary: materialBytes.map((b) => ({ text: b.toString('base64url'), bytes: b })) },
  { weight: 1, arbitrary: materialBytes.map((b) => ({ text: b.toString('base64').replace(/=+$/, ''), bytes: b })) },
  { weight: 1, arbitrary: materialBytes.map((b) => ({ text: b.toString('base64').replace(/(.{8})/g, '$1\n'), bytes: b })) },
  { weight: 1, arbitrary: materialBytes.map((b) => ({ text: b.toString('hex'), bytes: b })) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 1 }).map((text) => ({ text })) },
);

interface GeneratedEntry {
  entry: Record<string, unknown>;
  bytes?: Buffer;
}
/** Mostly a valid value (so that whole documents parse often), sometimes anything. */
const mostly = <T,>(valid: fc.Arbitrary<T>, other: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> =>
  fc.oneof({ weight: 6, arbitrary: valid }, { weight: 1, arbitrary: other });

const entry: fc.Arbitrary<GeneratedEntry> = fc
  .record(
    {
      keyMaterialId,
      material: materialField,
      description: mostly(fc.string({ maxLength: 40 }), fc.jsonValue({ maxDepth: 1 })),
      importedAt: mostly(fc.constant('2025-06-01T12:00:00Z'), fc.oneof(fc.string({ maxLength: 30 }), fc.jsonValue({ maxDepth: 1 }))),
      rotation: mostly(fc.stringMatching(/^[A-Za-z0-9._:-]{1,12}$/), fc.oneof(fc.constantFrom('', 'r 1', 'x'.repeat(129)), fc.string({ maxLength: 140 }), fc.jsonValue({ maxDepth: 1 }))),
      state: fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.constant(PENDING_IMPORT_STATE) }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 1 }) }),
      extra: fc.dictionary(fc.constantFrom('note', 'owner', '__proto__', 'constructor', 'material2'), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 2 }),
    },
    { requiredKeys: ['material', 'state'] },
  )
  .map((r) => {
    const e: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(r.extra ?? {})) Object.defineProperty(e, k, { value: v, enumerable: true, configurable: true, writable: true });
    if ('keyMaterialId' in r) e.keyMaterialId = r.keyMaterialId;
    e.material = r.material.text;
    for (const k of ['description', 'importedAt', 'rotation'] as const) if (k in r) e[k] = r[k];
    if (r.state !== undefined) e.state = r.state;
    return r.material.bytes ? { entry: e, bytes: r.material.bytes } : { entry: e };
  });

interface GeneratedSecret {
  secret: EscrowSecretValue;
  /** Every material the value holds (to look for in error messages). */
  materials: Buffer[];
  /** Material-bearing text of the value (base64 spellings), to look for too. */
  texts: string[];
  /** Well-formed by construction: must parse. */
  valid?: boolean;
}

const jsonSecret: fc.Arbitrary<GeneratedSecret> = fc
  .tuple(
    fc.oneof({ weight: 8, arbitrary: fc.constant<unknown>(ESCROW_FORMAT_V1) }, { weight: 1, arbitrary: fc.constantFrom<unknown>('kms-reimport/v2', 'KMS-REIMPORT/V1', undefined, null, 1) }),
    fc.oneof({ weight: 8, arbitrary: fc.array(entry, { minLength: 0, maxLength: 3 }) }, { weight: 1, arbitrary: fc.constant(undefined) }),
    fc.constantFrom('whole', 'whole', 'whole', 'pretty', 'cut', 'wrapped-in-array'),
    fc.nat(),
  )
  .map(([format, entries, how, at]) => {
    const doc: Record<string, unknown> = { ...(format === undefined ? {} : { format }), ...(entries ? { materials: entries.map((e) => e.entry) } : {}) };
    let text = how === 'pretty' ? JSON.stringify(doc, null, 2) : JSON.stringify(how === 'wrapped-in-array' ? [doc] : doc);
    if (how === 'cut') text = text.slice(0, at % Math.max(1, text.length));
    const materials = (entries ?? []).flatMap((e) => (e.bytes ? [e.bytes] : []));
    const texts = (entries ?? []).flatMap((e) => (typeof e.entry.material === 'string' ? [e.entry.material] : []));
    return { secret: { SecretString: text }, materials, texts };
  });

/** A well-formed kms-reimport/v1 value: unique IDs (some omitted), standard base64 of real or random material. */
const validSecret: fc.Arbitrary<GeneratedSecret> = fc
  .uniqueArray(fc.stringMatching(/^[0-9a-f]{64}$/), { minLength: 1, maxLength: 3 })
  .chain((idList) =>
    fc.tuple(fc.constant(idList), fc.array(materialBytes.filter((b) => b.length > 0), { minLength: idList.length, maxLength: idList.length }), fc.nat({ max: idList.length })),
  )
  .map(([idList, bytes, unlabelled]) => {
    const materials = idList.map((id, i) => ({ ...(i === unlabelled ? {} : { keyMaterialId: i % 2 ? id.toUpperCase() : id }), material: bytes[i]!.toString('base64') }));
    return { secret: { SecretString: JSON.stringify({ format: ESCROW_FORMAT_V1, materials }) }, materials: bytes, texts: materials.map((m) => m.material), valid: true };
  });

const anySecret: fc.Arbitrary<GeneratedSecret> = fc.oneof(
  { weight: 3, arbitrary: validSecret },
  { weight: 5, arbitrary: jsonSecret },
  { weight: 1, arbitrary: fc.jsonValue().map((v) => ({ secret: { SecretString: JSON.stringify(v) }, materials: [], texts: [] })) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }).map((s) => ({ secret: { SecretString: s }, materials: [], texts: [] })) },
  // What people paste: the material as base64 or hex text in SecretString.
  { weight: 1, arbitrary: materialBytes.map((b) => ({ secret: { SecretString: b.toString('base64') }, materials: [b], texts: [b.toString('base64')] })) },
  { weight: 1, arbitrary: materialBytes.map((b) => ({ secret: { SecretString: b.toString('hex') }, materials: [b], texts: [b.toString('hex')] })) },
  { weight: 1, arbitrary: fc.constantFrom<GeneratedSecret>({ secret: {}, materials: [], texts: [] }, { secret: { SecretString: '' }, materials: [], texts: [] }, { secret: { SecretString: '  \n' }, materials: [], texts: [] }) },
);

// ------------------------------------------------------------------ checks
function assertNamed(error: unknown, allowed: Array<new (...a: never[]) => Error>): asserts error is Error {
  assert.ok(
    allowed.some((c) => error instanceof c),
    `an unnamed error: ${error instanceof Error ? `${error.name}: ${error.message.slice(0, 200)}` : String(error)}`,
  );
}

/** The message names the key and carries none of the materials, nor their base64 text. */
function assertClean(error: Error, materials: Buffer[], texts: string[]): void {
  assert.ok(error.message.includes(CTX.keyId), 'the message names the key');
  assert.equal((error as { cause?: unknown }).cause, undefined, 'no cause that could quote the value');
  produced.add('error', error.message);
  for (const m of materials) {
    if (m.length < 12) continue;
    for (const form of [m.toString('latin1'), m.toString('hex'), m.toString('base64'), m.toString('base64url')]) {
      assert.ok(!error.message.includes(form), 'material in an error message');
    }
  }
  for (const t of texts) if (t.length >= 16) assert.ok(!error.message.includes(t), 'material text in an error message');
}

/** Validates each parsed material against a key spec: fine, or EscrowInvalid / KeyNotEligible, never material in the message. */
function checkAgainst(keySpec: string, material: Buffer, all: Buffer[], texts: string[]): boolean {
  try {
    validateMaterial(keySpec, material, CTX.keyId, CTX.secretId);
    return true;
  } catch (error) {
    assertNamed(error, [EscrowInvalid, KeyNotEligible]);
    assertClean(error, [...all, material], texts);
    if (materialKindFor(keySpec) === undefined) assert.ok(error instanceof KeyNotEligible, `${keySpec} is not importable: KeyNotEligible`);
    return false;
  }
}

describe('escrow secrets', () => {
  test(`raw SecretBinary: ${runs(10_000)} generated values against every key spec: named errors only, material never in a message, the caller's bytes untouched`, async () => {
    await scenario(FILE, 'properties', 'escrow SecretBinary: only EscrowInvalid/KeyNotEligible, no material in messages', () => {
      let accepted = 0;
      fc.assert(
        fc.property(materialBytes, fc.constantFrom(...KEY_SPECS), (bytes, keySpec) => {
          const given = Buffer.from(bytes);
          let entries;
          try {
            entries = parseEscrowSecret({ SecretBinary: given }, CTX);
          } catch (error) {
            assertNamed(error, [EscrowInvalid]);
            assertClean(error, [bytes], []);
            assert.equal(bytes.length, 0, 'only an empty SecretBinary is refused by its shape');
            return;
          }
          assert.equal(entries.length, 1);
          const ok = checkAgainst(keySpec, entries[0]!.material, [bytes], []);
          if (ok) accepted++;
          // The oracle: raw specs take exactly their length; a key spec's own real material is always taken.
          const kind = materialKindFor(keySpec);
          if (kind?.type === 'raw') assert.equal(ok, bytes.length === kind.length, `${keySpec} with ${bytes.length} bytes`);
          if (real.get(keySpec)?.equals(bytes)) assert.ok(ok, `${keySpec}'s own material is accepted`);
          wipeEscrowed(entries);
          assert.ok(given.equals(bytes), 'wiping the parsed entries leaves the secret value as it was');
        }),
        {
          ...propertyParameters(runs(10_000)),
          examples: IMPORTABLE_KEY_SPECS.map((s) => [real.get(s) ?? Buffer.alloc(0), s] as [Buffer, string]),
        },
      );
      assert.ok(accepted > 0);
      return `${runs(10_000)} generated SecretBinary values × key specs (${accepted} accepted): EscrowInvalid or KeyNotEligible only, no material in any message, raw lengths exact, real material always accepted`;
    });
  });

  test(`kms-reimport/v1 JSON and other SecretStrings: ${runs(10_000)} generated values: named errors only, IDs unique, a new version keeps everything`, async () => {
    await scenario(FILE, 'properties', 'escrow SecretString (JSON shapes, encodings, duplicate IDs): only named errors, no material in messages, lossless re-format', () => {
      let parsed = 0;
      fc.assert(
        fc.property(anySecret, fc.constantFrom(...KEY_SPECS), ({ secret, materials, texts, valid }, keySpec) => {
          const before = JSON.stringify(secret);
          let entries;
          try {
            entries = parseEscrowSecret(secret, CTX);
          } catch (error) {
            assertNamed(error, [EscrowInvalid]);
            assertClean(error, materials, texts);
            assert.ok(!valid, `a well-formed value was refused: ${error.message}`);
            return;
          } finally {
            assert.equal(JSON.stringify(secret), before, 'parsing never changes the value');
          }
          parsed++;
          assert.ok(entries.length > 0);
          const labelled = entries.filter((e) => e.keyMaterialId !== undefined).map((e) => e.keyMaterialId!);
          assert.equal(new Set(labelled).size, labelled.length, 'KeyMaterialIds are unique');
          for (const id of labelled) assert.match(id, /^[0-9a-f]{64}$/, 'IDs come back lowercase');
          assert.ok(entries.filter((e) => e.keyMaterialId === undefined && e.state !== PENDING_IMPORT_STATE).length <= 1, 'at most one unlabelled current entry');
          for (const e of entries) checkAgainst(keySpec, e.material, materials, texts);
          // A new version written from what was read holds the same materials, IDs and fields.
          const again = parseEscrowSecret({ SecretString: formatEscrowSecret(entries) }, CTX);
          assert.deepEqual(
            again.map((e) => ({ ...e, material: e.material.toString('hex') })),
            entries.map((e) => ({ ...e, material: e.material.toString('hex') })),
          );
          wipeEscrowed(again);
          wipeEscrowed(entries);
        }),
        propertyParameters(runs(10_000)),
      );
      assert.ok(parsed > 0, 'some generated values were valid escrow');
      return `${runs(10_000)} generated SecretString values (${parsed} valid escrow): EscrowInvalid only, unique lowercase IDs, at most one unlabelled entry, lossless re-format`;
    });
  });

  test('SecretBinary wins over SecretString, and a material found in both is never echoed', () => {
    const material = randomBytes(32);
    const entries = parseEscrowSecret({ SecretBinary: material, SecretString: 'not json' }, CTX);
    assert.ok(entries[0]!.material.equals(material));
    assert.notEqual(entries[0]!.material.buffer, material.buffer, 'a copy');
  });

  test('leak scan: no error message of this file holds any of the real materials, raw, hex, base64 or base64url', async () => {
    await scenario(FILE, 'leak scan', 'escrow: every EscrowInvalid/KeyNotEligible message of the properties', () => {
      assert.ok(produced.textCount > 1000 && produced.materialCount >= IMPORTABLE_KEY_SPECS.length);
      produced.scan('escrow error messages');
      return `${produced.textCount} error messages searched for ${produced.materialCount} real materials (every generated one was checked in its own case): none found`;
    });
  });
});
