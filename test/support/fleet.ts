/**
 * A large account for the sweep at scale, built fast (shared by test/integration/sweep-scale.test.ts
 * and the benchmark, bench/sweep.ts): one template key of each kind is made through the API exactly
 * as onboarding makes it (CreateKey, escrow, GetParametersForImport, ImportKeyMaterial, and
 * DeleteImportedKeyMaterial for an outage), then the endpoint's own state (snapshot()) is copied per
 * key with a fresh key ID and put back (restore(), the persistence path). 50,000 keys take seconds
 * this way instead of an hour of RSA key generation.
 *
 * Kinds: managed keys healthy (ValidTo 60 days out), expiring (ValidTo inside the renewal window) and
 * pending-import (material deleted), each with its default escrow secret; unmanaged keys EXTERNAL
 * (imported, tagged for another team, no escrow) and AWS_KMS (no tag). A copy keeps its template's
 * KeyMaterialId (in KMS a hash of the key ID and the material): the sweep reads it, never checks it.
 * Copies get no import parameters (a run asks for its own).
 */
import { randomUUID } from 'node:crypto';
import { CreateKeyCommand, DeleteImportedKeyMaterialCommand } from '@aws-sdk/client-kms';
import { onboardKey, type LocalAws } from './local-aws.js';

export type FleetKind = 'healthy' | 'expiring' | 'pending-import' | 'unmanaged-external' | 'unmanaged-aws-kms';
export const MANAGED_KINDS: readonly FleetKind[] = ['healthy', 'expiring', 'pending-import'];

/** What the sweep decides for each managed kind. */
export const EXPECTED_ACTION: Readonly<Partial<Record<FleetKind, 'skip' | 'renew' | 'recover'>>> = Object.freeze({
  healthy: 'skip',
  expiring: 'renew',
  'pending-import': 'recover',
});

export interface FleetSpec {
  /** Keys in the account, managed or not. */
  keys: number;
  /** Managed keys among them. */
  managed: number;
  /** Shares of the managed keys (default healthy 3 : expiring 1 : pending-import 1). */
  mix?: Partial<Record<'healthy' | 'expiring' | 'pending-import', number>>;
}

export interface Fleet {
  keys: number;
  managed: number;
  /** Managed key ID → its kind. */
  managedKinds: Map<string, FleetKind>;
  counts: Record<FleetKind, number>;
  buildMs: number;
}

const DAY_S = 86_400;

/** Splits `total` over weights, the remainder to the first kinds, in order. */
export function splitByWeight<K extends string>(total: number, weights: Array<[K, number]>): Array<[K, number]> {
  const sum = weights.reduce((s, [, w]) => s + w, 0);
  const out = weights.map(([k, w]): [K, number] => [k, sum > 0 ? Math.floor((total * w) / sum) : 0]);
  let left = total - out.reduce((s, [, n]) => s + n, 0);
  for (let i = 0; left > 0 && out.length > 0; i = (i + 1) % out.length, left--) out[i]![1]++;
  return out;
}

interface KmsSnapshot {
  regions: Record<string, { keys: Record<string, { importParameters?: unknown[] }>; aliases: Record<string, unknown> }>;
}
interface SecretsSnapshot {
  secrets: Array<{ name: string }>;
}

/**
 * Builds the fleet into a running harness (quotas and latency must be off while it runs; the
 * harness's escrow prefix and managed tag are used). Every kind with a count of at least one has
 * its template among the keys.
 */
export async function buildFleet(aws: LocalAws, spec: FleetSpec): Promise<Fleet> {
  const started = performance.now();
  if (!Number.isInteger(spec.keys) || !Number.isInteger(spec.managed) || spec.managed < 0 || spec.managed > spec.keys) {
    throw new RangeError(`a fleet needs whole numbers 0 <= managed <= keys, got ${spec.managed} of ${spec.keys}`);
  }
  const mix = { healthy: 3, expiring: 1, 'pending-import': 1, ...spec.mix };
  const plan: Array<[FleetKind, number]> = [
    ...splitByWeight<FleetKind>(spec.managed, [
      ['healthy', mix.healthy],
      ['expiring', mix.expiring],
      ['pending-import', mix['pending-import']],
    ]),
    ...splitByWeight<FleetKind>(spec.keys - spec.managed, [
      ['unmanaged-external', 1],
      ['unmanaged-aws-kms', 1],
    ]),
  ];
  const wrapping = { wrappingAlgorithm: 'RSAES_OAEP_SHA_256', wrappingKeySpec: 'RSA_2048' };
  const expiringSeconds = Math.max(1, aws.config.renewalWindowDays) * DAY_S - 3600;
  const template = async (kind: FleetKind): Promise<string> => {
    switch (kind) {
      case 'healthy':
        return (await onboardKey(aws, 'SYMMETRIC_DEFAULT', { lifetimeSeconds: 60 * DAY_S, wrapping })).keyId;
      case 'expiring':
        return (await onboardKey(aws, 'SYMMETRIC_DEFAULT', { lifetimeSeconds: expiringSeconds, wrapping })).keyId;
      case 'pending-import': {
        const key = await onboardKey(aws, 'SYMMETRIC_DEFAULT', { lifetimeSeconds: 60 * DAY_S, wrapping });
        await aws.kms.send(new DeleteImportedKeyMaterialCommand({ KeyId: key.keyId }));
        return key.keyId;
      }
      case 'unmanaged-external':
        return (await onboardKey(aws, 'SYMMETRIC_DEFAULT', { lifetimeSeconds: 60 * DAY_S, wrapping, managed: false, tags: [{ TagKey: 'team', TagValue: 'payments' }] })).keyId;
      case 'unmanaged-aws-kms':
        return (await aws.kms.send(new CreateKeyCommand({ Description: 'fleet: an AWS_KMS key, not managed' }))).KeyMetadata!.KeyId!;
    }
  };
  const templates = new Map<FleetKind, string>();
  for (const [kind, count] of plan) if (count > 0) templates.set(kind, await template(kind));

  const kmsService = aws.endpoint.services.kms!;
  const secretsService = aws.endpoint.services.secretsmanager!;
  const kmsState = kmsService.snapshot() as KmsSnapshot;
  const secretsState = secretsService.snapshot() as SecretsSnapshot;
  const managedKinds = new Map<string, FleetKind>();
  const counts = Object.fromEntries(plan.map(([k]) => [k, 0])) as Record<FleetKind, number>;
  const escrowName = (keyId: string) => `${aws.config.escrowPrefix}${keyId}`;
  for (const [kind, count] of plan) {
    const templateId = templates.get(kind);
    if (templateId === undefined) continue;
    const space = Object.values(kmsState.regions).find((s) => templateId in s.keys);
    if (!space) throw new Error('fleet: a template key is not in the endpoint snapshot; has the KMS state format changed?');
    const record = space.keys[templateId]!;
    record.importParameters = [];
    const keyText = JSON.stringify(record);
    const managed = MANAGED_KINDS.includes(kind);
    const secret = managed ? secretsState.secrets.find((s) => s.name === escrowName(templateId)) : undefined;
    if (managed && !secret) throw new Error(`fleet: no escrow secret for the ${kind} template key`);
    const secretText = secret ? JSON.stringify(secret) : undefined;
    counts[kind] = count;
    if (managed) managedKinds.set(templateId, kind);
    for (let i = 1; i < count; i++) {
      const keyId = randomUUID();
      space.keys[keyId] = JSON.parse(keyText.replaceAll(templateId, keyId));
      if (secretText) secretsState.secrets.push(JSON.parse(secretText.replaceAll(templateId, keyId)));
      if (managed) managedKinds.set(keyId, kind);
    }
  }
  // An unmanaged key has no escrow: drop the one onboarding made for the unmanaged template.
  const unmanaged = templates.get('unmanaged-external');
  if (unmanaged !== undefined) secretsState.secrets = secretsState.secrets.filter((s) => s.name !== escrowName(unmanaged));
  kmsService.restore(kmsState);
  secretsService.restore(secretsState);
  return { keys: spec.keys, managed: spec.managed, managedKinds, counts, buildMs: performance.now() - started };
}

/** The benchmark's entry (bench/sweep.ts): a share of the keys managed instead of a count. */
export async function buildBenchFleet(aws: LocalAws, spec: { keys: number; managedShare: number }): Promise<Fleet> {
  return buildFleet(aws, { keys: spec.keys, managed: Math.round(spec.keys * spec.managedShare) });
}
