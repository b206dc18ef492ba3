import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertSupportedRegion, DEFAULT_CONFIG, loadConfig, validateConfig } from '../../lib/config.js';
import { ownRegion } from '../../functions/commons/environment.js';
import { buildProgram } from '../../cli/program.js';
import { readFileSync } from 'node:fs';
import { yamlParse } from 'yaml-cfn';
import * as errors from '../../lib/errors.js';

test('loadConfig with an empty environment gives the defaults', () => {
  assert.deepEqual(loadConfig({}), { ...DEFAULT_CONFIG });
  assert.equal(DEFAULT_CONFIG.managedTagKey, 'kms-reimport:managed');
  assert.equal(DEFAULT_CONFIG.managedTagValue, 'true');
  assert.equal(DEFAULT_CONFIG.escrowTagKey, 'kms-reimport:escrow');
  assert.equal(DEFAULT_CONFIG.escrowPrefix, 'kms-reimport/');
  assert.equal(DEFAULT_CONFIG.materialLifetimeDays, 90);
  assert.equal(DEFAULT_CONFIG.renewalWindowDays, 14);
  assert.equal(DEFAULT_CONFIG.expirationModel, 'follow-key');
  assert.equal(DEFAULT_CONFIG.maxAttempts, 5);
  assert.equal(DEFAULT_CONFIG.baseDelayMs, 200);
  assert.equal(DEFAULT_CONFIG.parametersIntervalMs, 1000, "KMS's current published quota: one GetParametersForImport a second");
  // The fleet's adaptive pace starts from the published quotas unless configured (lib/pace.ts).
  assert.equal(DEFAULT_CONFIG.parametersRate, undefined);
  assert.equal(DEFAULT_CONFIG.importRate, undefined);
});

test('loadConfig reads every KMS_REIMPORT_* variable', () => {
  const config = loadConfig({
    KMS_REIMPORT_MANAGED_TAG_KEY: 'byok',
    KMS_REIMPORT_MANAGED_TAG_VALUE: 'yes',
    KMS_REIMPORT_ESCROW_TAG_KEY: 'byok:escrow',
    KMS_REIMPORT_ESCROW_PREFIX: 'escrow/',
    KMS_REIMPORT_MATERIAL_LIFETIME_DAYS: '365',
    KMS_REIMPORT_RENEWAL_WINDOW_DAYS: '30',
    KMS_REIMPORT_EXPIRATION_MODEL: 'KEY_MATERIAL_DOES_NOT_EXPIRE',
    KMS_REIMPORT_WRAPPING_ALGORITHM: 'RSA_AES_KEY_WRAP_SHA_1',
    KMS_REIMPORT_WRAPPING_KEY_SPEC: 'RSA_3072',
    KMS_REIMPORT_MAX_ATTEMPTS: '2',
    KMS_REIMPORT_BASE_DELAY_MS: '50',
    KMS_REIMPORT_PARAMETERS_INTERVAL_MS: '0',
    KMS_REIMPORT_PARAMETERS_RATE: '0.25',
    KMS_REIMPORT_IMPORT_RATE: '5',
  });
  assert.deepEqual(config, {
    managedTagKey: 'byok',
    managedTagValue: 'yes',
    escrowTagKey: 'byok:escrow',
    escrowPrefix: 'escrow/',
    materialLifetimeDays: 365,
    renewalWindowDays: 30,
    expirationModel: 'KEY_MATERIAL_DOES_NOT_EXPIRE',
    wrappingAlgorithm: 'RSA_AES_KEY_WRAP_SHA_1',
    wrappingKeySpec: 'RSA_3072',
    maxAttempts: 2,
    baseDelayMs: 50,
    parametersIntervalMs: 0,
    parametersRate: 0.25,
    importRate: 5,
  });
});

test('the fleet pace rates: decimal requests per second within 0.01..1000, named when wrong', () => {
  assert.equal(loadConfig({ KMS_REIMPORT_PARAMETERS_RATE: '2' }).parametersRate, 2);
  assert.equal(loadConfig({ KMS_REIMPORT_IMPORT_RATE: ' 15 ' }).importRate, 15);
  for (const [name, value] of [
    ['KMS_REIMPORT_PARAMETERS_RATE', '0'],
    ['KMS_REIMPORT_PARAMETERS_RATE', '0.001'],
    ['KMS_REIMPORT_PARAMETERS_RATE', 'fast'],
    ['KMS_REIMPORT_PARAMETERS_RATE', '-1'],
    ['KMS_REIMPORT_IMPORT_RATE', '1001'],
    ['KMS_REIMPORT_IMPORT_RATE', '1e3'],
  ] as const) {
    assert.throws(() => loadConfig({ [name]: value }), { name: 'ConfigError', message: new RegExp(`^${name}="${value.replace('.', '\\.')}" is not a rate in requests per second`) }, `${name}=${value}`);
  }
  assert.throws(() => validateConfig({ ...DEFAULT_CONFIG, importRate: 0 }), { name: 'ConfigError', message: /importRate/ });
  assert.doesNotThrow(() => validateConfig({ ...DEFAULT_CONFIG, parametersRate: 0.25, importRate: 15 }));
});

test('loadConfig throws ConfigError naming the variable on bad values', () => {
  const bad: Array<[string, string, RegExp]> = [
    ['KMS_REIMPORT_MATERIAL_LIFETIME_DAYS', '0', /between 1 and 365/],
    ['KMS_REIMPORT_MATERIAL_LIFETIME_DAYS', '366', /between 1 and 365/],
    ['KMS_REIMPORT_MATERIAL_LIFETIME_DAYS', '9.5', /whole number/],
    ['KMS_REIMPORT_MATERIAL_LIFETIME_DAYS', 'ninety', /whole number/],
    ['KMS_REIMPORT_EXPIRATION_MODEL', 'SOMETIMES', /follow-key/],
    ['KMS_REIMPORT_WRAPPING_ALGORITHM', 'RSAES_PKCS1_V1_5', /no longer accepted/],
    ['KMS_REIMPORT_WRAPPING_ALGORITHM', 'SM2PKE', /not supported/],
    ['KMS_REIMPORT_WRAPPING_KEY_SPEC', 'RSA_1024', /not supported/],
    ['KMS_REIMPORT_WRAPPING_ALGORITHM_SYMMETRIC', 'RSA_AES_KEY_WRAP_SHA_256', /RSA and ECC material only; use RSAES_OAEP_SHA_1 or RSAES_OAEP_SHA_256/],
    ['KMS_REIMPORT_WRAPPING_ALGORITHM_SYMMETRIC', 'RSAES_PKCS1_V1_5', /2023-10-10/],
    ['KMS_REIMPORT_WRAPPING_ALGORITHM_RSA', 'RSAES_OAEP_SHA_256', /cannot carry an RSA private key; use RSA_AES_KEY_WRAP_SHA_1 or RSA_AES_KEY_WRAP_SHA_256/],
    ['KMS_REIMPORT_WRAPPING_ALGORITHM_ECC', 'SM2PKE', /not a wrapping algorithm KMS takes/],
    ['KMS_REIMPORT_WRAPPING_KEY_SPEC_ECC', 'SM2', /not supported/],
    ['KMS_REIMPORT_MAX_ATTEMPTS', '0', /between 1 and 20/],
    ['KMS_REIMPORT_PARAMETERS_INTERVAL_MS', '60001', /between 0 and 60000/],
    ['KMS_REIMPORT_PARAMETERS_INTERVAL_MS', '-1', /whole number/],
    ['KMS_REIMPORT_MANAGED_TAG_KEY', '   ', /blank/],
  ];
  for (const [name, value, message] of bad) {
    assert.throws(
      () => loadConfig({ [name]: value }),
      (e: unknown) => e instanceof errors.ConfigError && e.name === 'ConfigError' && e.message.includes(name) && message.test(e.message),
      `${name}=${value}`,
    );
  }
});

test('loadConfig reads the wrapping settings per key family', () => {
  assert.deepEqual(
    loadConfig({
      KMS_REIMPORT_WRAPPING_ALGORITHM_SYMMETRIC: 'RSAES_OAEP_SHA_1',
      KMS_REIMPORT_WRAPPING_ALGORITHM_RSA: 'RSA_AES_KEY_WRAP_SHA_1',
      KMS_REIMPORT_WRAPPING_ALGORITHM_ECC: 'RSAES_OAEP_SHA_256',
      KMS_REIMPORT_WRAPPING_KEY_SPEC_SYMMETRIC: 'RSA_2048',
      KMS_REIMPORT_WRAPPING_KEY_SPEC_ECC: 'RSA_3072',
    }).wrapping,
    {
      symmetric: { algorithm: 'RSAES_OAEP_SHA_1', keySpec: 'RSA_2048' },
      rsa: { algorithm: 'RSA_AES_KEY_WRAP_SHA_1' },
      ecc: { algorithm: 'RSAES_OAEP_SHA_256', keySpec: 'RSA_3072' },
    },
  );
  // The compatibility variable stays accepted with an algorithm that fits only some families.
  for (const algorithm of ['RSA_AES_KEY_WRAP_SHA_256', 'RSAES_OAEP_SHA_256']) {
    const config = loadConfig({ KMS_REIMPORT_WRAPPING_ALGORITHM: algorithm });
    assert.equal(config.wrappingAlgorithm, algorithm);
    assert.equal(config.wrapping, undefined);
  }
});

test('validateConfig checks configs built in code', () => {
  assert.throws(() => validateConfig({ ...DEFAULT_CONFIG, wrapping: { symmetric: { algorithm: 'RSA_AES_KEY_WRAP_SHA_1' } } }), { name: 'ConfigError', message: /RSA and ECC material only/ });
  assert.throws(() => validateConfig({ ...DEFAULT_CONFIG, wrapping: { rsa: { keySpec: 'RSA_1024' } } }), { name: 'ConfigError', message: /wrapping\.rsa\.keySpec/ });
  assert.throws(() => validateConfig({ ...DEFAULT_CONFIG, wrapping: { dsa: {} } as never }), { name: 'ConfigError', message: /not a key family/ });
  assert.doesNotThrow(() => validateConfig({ ...DEFAULT_CONFIG, wrapping: { ecc: { algorithm: 'RSAES_OAEP_SHA_1' }, rsa: {} } }));
  assert.throws(() => validateConfig({ ...DEFAULT_CONFIG, materialLifetimeDays: 400 }), { name: 'ConfigError' });
  assert.throws(() => validateConfig({ ...DEFAULT_CONFIG, escrowPrefix: '' }), { name: 'ConfigError' });
  assert.throws(() => validateConfig({ ...DEFAULT_CONFIG, parametersIntervalMs: 1.5 }), { name: 'ConfigError' });
  assert.doesNotThrow(() => validateConfig({ ...DEFAULT_CONFIG, parametersIntervalMs: 0 }));
  assert.doesNotThrow(() => validateConfig({ ...DEFAULT_CONFIG }));
});

test('every named error sets its own name, keeps keyId and is a ReimportError', () => {
  for (const name of errors.REIMPORT_ERROR_NAMES) {
    const Ctor = (errors as unknown as Record<string, new (m: string, o?: errors.ReimportErrorOptions) => errors.ReimportError>)[name];
    assert.ok(Ctor, `${name} is exported`);
    const e = new Ctor('something happened to key k1; do this next', { keyId: 'k1' });
    assert.equal(e.name, name);
    assert.equal(e.keyId, 'k1');
    assert.ok(errors.isReimportError(e));
    assert.ok(e instanceof Error);
  }
  assert.equal(errors.isReimportError(new Error('x')), false);
  assert.equal(errors.isReimportError({ name: 'KeyNotFound' }), false);
});

const CHINA = /^kms-reimport does not support the China Regions \(aws-cn: SM4 16-byte material, SM2 wrapping\) yet; cn-north-1 was given/;

test('China Regions are refused at start: config, every Lambda cold start, the CLI', async () => {
  for (const region of ['cn-north-1', 'cn-northwest-1']) {
    assert.throws(() => assertSupportedRegion(region), (e: unknown) => e instanceof errors.ConfigError && /China Regions/.test((e as Error).message) && (e as Error).message.includes(region));
  }
  for (const region of ['us-east-1', 'ap-southeast-5', 'us-gov-west-1', 'us-iso-east-1', 'us-isob-east-1', 'eusc-de-east-1', undefined]) {
    assert.doesNotThrow(() => assertSupportedRegion(region), String(region));
  }
  assert.throws(() => loadConfig({ AWS_REGION: 'cn-north-1' }), { name: 'ConfigError', message: CHINA });
  assert.throws(() => loadConfig({ AWS_DEFAULT_REGION: 'cn-north-1' }), { name: 'ConfigError', message: CHINA });
  assert.doesNotThrow(() => loadConfig({ AWS_REGION: 'eusc-de-east-1' }));
  assert.throws(() => ownRegion({ AWS_REGION: 'cn-north-1' }), { name: 'ConfigError', message: CHINA });
  assert.equal(ownRegion({ AWS_REGION: 'us-gov-west-1' }), 'us-gov-west-1');

  // The CLI refuses before any command that talks to AWS runs (nothing is sent: no endpoint exists here).
  const program = buildProgram();
  await assert.rejects(program.parseAsync(['node', 'kms-reimport', 'status', '--region', 'cn-north-1', '--endpoint-url', 'http://127.0.0.1:9']), { name: 'ConfigError', message: CHINA });
});

test('China Regions are refused at deploy: a template Rule asserts the partition is not aws-cn', () => {
  const template = yamlParse(readFileSync(new URL('../../template.yaml', import.meta.url), 'utf8')) as {
    Rules?: Record<string, { RuleCondition?: unknown; Assertions: { Assert: unknown; AssertDescription?: string }[] }>;
  };
  const rule = template.Rules?.['NotInChinaRegions'];
  assert.ok(rule, 'template.yaml has Rules.NotInChinaRegions');
  assert.equal(rule.RuleCondition, undefined, 'the rule applies to every deployment');
  assert.deepEqual(rule.Assertions[0]!.Assert, { 'Fn::Not': [{ 'Fn::Equals': [{ Ref: 'AWS::Partition' }, 'aws-cn'] }] });
  assert.match(rule.Assertions[0]!.AssertDescription!, /does not support the China Regions/);
});
