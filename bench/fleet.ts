/**
 * A large account for the sweep benchmark, built fast: one real key of each kind is made through
 * the API (CreateKey, escrow, GetParametersForImport, ImportKeyMaterial, DeleteImportedKeyMaterial,
 * exactly as onboarding does), then the endpoint's own state (snapshot()) is copied per key with a
 * fresh key ID and restored (restore(), the persistence path). 50,000 keys take seconds this way
 * instead of an hour of RSA key generation.
 *
 * Kinds: managed keys healthy (ValidTo 60 days out), expiring (ValidTo within the renewal window)
 * and PendingImport (material deleted), each with its escrow secret; unmanaged keys EXTERNAL
 * (imported, no tag, no escrow) and AWS_KMS. Copies keep the template's KeyMaterialId (a hash of
 * the key ID and the material in KMS): the sweep reads it, never checks it.
 */
import { randomUUID } from 'node:crypto';
import { CreateKeyCommand, DeleteImportedKeyMaterialCommand } from '@aws-sdk/client-kms';
import { onboardKey, type LocalAws } from '../test/support/local-aws.js';

export type FleetKind = 'healthy' | 'expiring' | 'pending-import' | 'unmanaged-external' | 'unmanaged-aws-kms';
export const MANAGED_KINDS: readonly FleetKind[] = ['healthy', 'expiring', 'pending-import'];

/** What the sweep should decide for each managed kind. */
export const EXPECTED_ACTION: Partial<Record<FleetKind, 'skip' | 'renew' | 'recover'>> = {
  healthy: 'skip',
  expiring: 'renew',
  'pending-import': 'recover',
};

export interface FleetSpec {
  keys: number;
  /** Share of managed keys (0..1). */
  managedShare: number;
}

export interface Fleet {
  keys: number;
  managed: number;
  /** Managed key ID → its kind. */
  managedKinds: Map<string, FleetKind>;
  counts: Record<FleetKind, number>;
  buildMs: number;
}

const DAY = 86_400;

/** Splits `total` over weights, the remainder to the first kinds. */
function split(total: number, weights: Array<[FleetKind, number]>): Array<[FleetKind, number]> {
  const sum = weights.reduce((s, [, w]) => s + w, 0);
  const out = weights.map(([k, w]): [FleetKind, number] => [k, Math.floor((total * w) / sum)]);
  let left = total - out.reduce((s, [, n]) => s + n, 0);
  for (let i = 0; left > 0; i = (i + 1) % out.length, left--) out[i]![1]++;
  return out;
}

interface RegionSnapshot {
  regions: Record<string, { keys: Record<string, unknown>; aliases: Record<string, unknown> }>;
}
interface SecretsSnapshot {
  secrets: Array<{ name: string }>;
}

/** Builds the fleet into a running harness (quotas and latency must be off while it runs). */
export async function buildFleet(aws: LocalAws, spec: FleetSpec): Promise<Fleet> {
  const started = performance.now();
  const managed = Math.round(spec.keys * spec.managedShare);
  const plan = [
    ...split(managed, [
      ['healthy', 3],
      ['expiring', 1],
      ['pending-import', 1],
    ]),
    ...split(spec.keys - managed, [
      ['unmanaged-external', 1],
      ['unmanaged-aws-kms', 1],
    ]),
  ];
  const wrapping = { wrappingAlgorithm: 'RSAES_OAEP_SHA_256', wrappingKeySpec: 'RSA_2048' };
  const templates = new Map<FleetKind, string>();
  templates.set('healthy', (await onboardKey(aws, 'SYMMETRIC_DEFAULT', { lifetimeSeconds: 60 * DAY, wrapping })).keyId);
  templates.set('expiring', (await onboardKey(aws, 'SYMMETRIC_DEFAULT', { lifetimeSeconds: 5 * DAY, wrapping })).keyId);
  const pending = await onboardKey(aws, 'SYMMETRIC_DEFAULT', { lifetimeSeconds: 60 * DAY, wrapping });
  await aws.kms.send(new DeleteImportedKeyMaterialCommand({ KeyId: pending.keyId }));
  templates.set('pending-import', pending.keyId);
  templates.set('unmanaged-external', (await onboardKey(aws, 'SYMMETRIC_DEFAULT', { lifetimeSeconds: 60 * DAY, wrapping, managed: false })).keyId);
  const plain = await aws.kms.send(new CreateKeyCommand({ Description: 'bench: an AWS_KMS key, not managed' }));
  templates.set('unmanaged-aws-kms', plain.KeyMetadata!.KeyId!);

  const kmsService = aws.endpoint.services.kms!;
  const secretsService = aws.endpoint.services.secretsmanager!;
  const kmsState = kmsService.snapshot() as RegionSnapshot;
  const secretsState = secretsService.snapshot() as SecretsSnapshot;
  const spaceId = Object.keys(kmsState.regions).find((id) => templates.get('healthy')! in kmsState.regions[id]!.keys);
  if (!spaceId) throw new Error('bench fleet: the template keys are not in the endpoint snapshot; has the KMS state format changed?');
  const space = kmsState.regions[spaceId]!;

  const managedKinds = new Map<string, FleetKind>();
  const counts = Object.fromEntries(plan.map(([k]) => [k, 0])) as Record<FleetKind, number>;
  const unmanagedTemplateSecret = `${aws.config.escrowPrefix}${templates.get('unmanaged-external')}`;
  for (const [kind, count] of plan) {
    const templateId = templates.get(kind)!;
    const keyText = JSON.stringify(space.keys[templateId]);
    const secret = kind === 'unmanaged-external' ? undefined : secretsState.secrets.find((s) => s.name === `${aws.config.escrowPrefix}${templateId}`);
    const secretText = secret ? JSON.stringify(secret) : undefined;
    if (MANAGED_KINDS.includes(kind) && !secretText) throw new Error(`bench fleet: no escrow secret for the ${kind} template key`);
    // The template itself counts as one of its kind.
    counts[kind] = count;
    if (MANAGED_KINDS.includes(kind)) managedKinds.set(templateId, kind);
    for (let i = 1; i < count; i++) {
      const keyId = randomUUID();
      space.keys[keyId] = JSON.parse(keyText.replaceAll(templateId, keyId));
      if (secretText) secretsState.secrets.push(JSON.parse(secretText.replaceAll(templateId, keyId)));
      if (MANAGED_KINDS.includes(kind)) managedKinds.set(keyId, kind);
    }
  }
  // The unmanaged EXTERNAL template was escrowed by onboarding; its copies have no escrow (not managed).
  secretsState.secrets = secretsState.secrets.filter((s) => s.name !== unmanagedTemplateSecret);
  kmsService.restore(kmsState);
  secretsService.restore(secretsState);
  return { keys: spec.keys, managed, managedKinds, counts, buildMs: performance.now() - started };
}
