// Cross-check (optional): the same Secrets Manager calls against this endpoint and against
// moto_server give the same error names, and every field we return is one moto returns too.
// Skipped with a message when moto_server is not on PATH, unless CI is set (then it fails).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  ListSecretVersionIdsCommand,
  PutSecretValueCommand,
  RestoreSecretCommand,
  SecretsManagerClient,
  TagResourceCommand,
} from '@aws-sdk/client-secrets-manager';
import { startLocalEndpoint, type LocalEndpoint } from '../../local/index.js';
import { startMoto, type Moto } from '../support/moto.js';

const motoPresent = spawnSync('moto_server', ['--help'], { stdio: 'ignore' }).status === 0;
const skip = !motoPresent && !process.env.CI ? 'moto_server is not on PATH (pip install "moto[server]" to run this cross-check)' : false;

let endpoint: LocalEndpoint;
let moto: Moto | undefined;
let motoUrl: string;

/**
 * Where moto and Secrets Manager's own API reference disagree, we follow the reference; each
 * such known difference is listed with its reason and not counted.
 */
const KNOWN_MOTO_DIFFERENCES: Record<string, string> = {
  'CreateSecret both values: ours {"error":"InvalidParameterException"}, moto {"fields":["ARN","Name","VersionId"]}':
    'the API reference: SecretString or SecretBinary, "but not both"; moto accepts both',
  'DescribeSecret: fields moto does not return: LastAccessedDate':
    'the API reference: LastAccessedDate is the last day the secret was read (GetSecretValue); moto does not record it',
  'ListSecretVersionIds: fields moto does not return: Versions.[]KmsKeyIds': 'SecretVersionsListEntry has KmsKeyIds in the API model; moto omits it',
};

/** Field names (recursively) and error name: what must agree between two implementations. */
type Shape = { error: string } | { fields: string[] };

function fieldsOf(value: unknown, prefix = ''): string[] {
  if (value instanceof Date || value instanceof Uint8Array || value === null || typeof value !== 'object') return [];
  if (Array.isArray(value)) return value.length > 0 ? fieldsOf(value[0], `${prefix}[]`) : [];
  return Object.entries(value as Record<string, unknown>)
    .filter(([key]) => key !== '$metadata')
    .flatMap(([key, v]) => {
      // Map-valued fields (version id → stages) are compared as maps, not by their keys.
      if (key === 'VersionIdsToStages') return [`${prefix}${key}`];
      return [`${prefix}${key}`, ...fieldsOf(v, `${prefix}${key}.`)];
    });
}

async function shapeOf(call: () => Promise<unknown>): Promise<Shape> {
  try {
    return { fields: fieldsOf(await call()).sort() };
  } catch (err) {
    return { error: (err as Error).name };
  }
}

async function script(url: string): Promise<Record<string, Shape>> {
  const sm = new SecretsManagerClient({ endpoint: url, region: 'us-east-1', credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'x' }, maxAttempts: 1 });
  const name = 'cross/check';
  const steps: [string, () => Promise<unknown>][] = [
    ['CreateSecret', () => sm.send(new CreateSecretCommand({ Name: name, SecretBinary: Uint8Array.of(1, 2, 3), Tags: [{ Key: 'k', Value: 'v' }], Description: 'd' }))],
    ['CreateSecret duplicate', () => sm.send(new CreateSecretCommand({ Name: name, SecretString: 'x' }))],
    ['CreateSecret both values', () => sm.send(new CreateSecretCommand({ Name: 'cross/both', SecretString: 'x', SecretBinary: Uint8Array.of(1) }))],
    ['GetSecretValue', () => sm.send(new GetSecretValueCommand({ SecretId: name }))],
    ['GetSecretValue missing', () => sm.send(new GetSecretValueCommand({ SecretId: 'cross/missing' }))],
    ['GetSecretValue missing stage', () => sm.send(new GetSecretValueCommand({ SecretId: name, VersionStage: 'AWSPENDING' }))],
    ['PutSecretValue', () => sm.send(new PutSecretValueCommand({ SecretId: name, SecretBinary: Uint8Array.of(4) }))],
    ['GetSecretValue previous', () => sm.send(new GetSecretValueCommand({ SecretId: name, VersionStage: 'AWSPREVIOUS' }))],
    ['TagResource', () => sm.send(new TagResourceCommand({ SecretId: name, Tags: [{ Key: 'k2', Value: 'v2' }] }))],
    ['DescribeSecret', () => sm.send(new DescribeSecretCommand({ SecretId: name }))],
    ['ListSecretVersionIds', () => sm.send(new ListSecretVersionIdsCommand({ SecretId: name }))],
    ['DeleteSecret bad window', () => sm.send(new DeleteSecretCommand({ SecretId: name, RecoveryWindowInDays: 3 }))],
    ['DeleteSecret', () => sm.send(new DeleteSecretCommand({ SecretId: name, RecoveryWindowInDays: 7 }))],
    ['GetSecretValue deleted', () => sm.send(new GetSecretValueCommand({ SecretId: name }))],
    ['RestoreSecret', () => sm.send(new RestoreSecretCommand({ SecretId: name }))],
    ['DeleteSecret force', () => sm.send(new DeleteSecretCommand({ SecretId: name, ForceDeleteWithoutRecovery: true }))],
    ['DescribeSecret after force', () => sm.send(new DescribeSecretCommand({ SecretId: name }))],
  ];
  const shapes: Record<string, Shape> = {};
  try {
    for (const [label, call] of steps) shapes[label] = await shapeOf(call);
  } finally {
    sm.destroy();
  }
  return shapes;
}

describe('Secrets Manager cross-check against moto_server', { skip }, () => {
  before(async () => {
    endpoint = await startLocalEndpoint();
    moto = await startMoto();
    motoUrl = moto.url;
  });
  after(async () => {
    await moto?.stop();
    await endpoint?.close();
  });

  it('gives the same errors and only fields moto gives too', async (t) => {
    const ours = await script(endpoint.url);
    const theirs = await script(motoUrl);
    const differences: string[] = [];
    for (const [label, shape] of Object.entries(ours)) {
      const other = theirs[label];
      assert.ok(other, label);
      if ('error' in shape || 'error' in other) {
        if (JSON.stringify(shape) !== JSON.stringify(other)) differences.push(`${label}: ours ${JSON.stringify(shape)}, moto ${JSON.stringify(other)}`);
        continue;
      }
      const extra = shape.fields.filter((f) => !other.fields.includes(f));
      if (extra.length > 0) differences.push(`${label}: fields moto does not return: ${extra.join(', ')}`);
      const missing = other.fields.filter((f) => !shape.fields.includes(f));
      if (missing.length > 0) t.diagnostic(`${label}: moto also returns ${missing.join(', ')}`);
    }
    for (const known of differences.filter((d) => d in KNOWN_MOTO_DIFFERENCES)) t.diagnostic(`known: ${known} (${KNOWN_MOTO_DIFFERENCES[known]})`);
    assert.deepEqual(
      differences.filter((d) => !(d in KNOWN_MOTO_DIFFERENCES)),
      [],
    );
  });
});
