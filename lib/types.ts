/**
 * The domain's shared shapes. Everything here may travel in a log line, a Step Functions
 * state payload or an outcome: none of it ever holds key material.
 */

/** A key ID, key ARN, alias name (`alias/...`) or alias ARN. */
export type KeyRef = string;

/** One key material of a key, as ListKeyRotations (IncludeKeyMaterial: ALL_KEY_MATERIAL) reports it. */
export interface MaterialInfo {
  keyMaterialId?: string;
  /** CURRENT | NON_CURRENT | PENDING_ROTATION | PENDING_MULTI_REGION_IMPORT_AND_ROTATION */
  state?: string;
  /** IMPORTED | PENDING_IMPORT */
  importState?: string;
  /** ISO 8601 */
  validTo?: string;
  expirationModel?: string;
  description?: string;
  /** ISO 8601: when this material became CURRENT by a rotation (ListKeyRotations RotationDate); absent for the first material. */
  rotationDate?: string;
}

/** What inspection learns about a key: metadata, tags and materials, never material itself. */
export interface KeyReport {
  keyId: string;
  arn: string;
  /** The reference the caller gave (may be an alias). */
  requestedRef: KeyRef;
  keyState: string;
  origin: string;
  keySpec: string;
  keyUsage: string;
  multiRegion: boolean;
  /** ISO 8601: when the key was created (DescribeKey CreationDate). */
  creationDate?: string;
  /** For a Multi-Region key: PRIMARY or REPLICA (DescribeKey MultiRegionConfiguration.MultiRegionKeyType). */
  multiRegionKeyType?: string;
  /** For a Multi-Region key: the Region of its primary key (MultiRegionConfiguration.PrimaryKey.Region). */
  primaryRegion?: string;
  /**
   * For a Multi-Region key: the Regions of its replica keys (MultiRegionConfiguration.ReplicaKeys),
   * as KMS lists them. The escrow must be readable in each (Secrets Manager replica Regions).
   */
  replicaRegions?: string[];
  expirationModel?: string;
  /** ISO 8601: the earliest ValidTo among the key's materials. */
  validTo?: string;
  currentKeyMaterialId?: string;
  tags: Record<string, string>;
  materials: MaterialInfo[];
  /**
   * True when `materials` is KMS's own list (ListKeyRotations answered), so an empty list means the
   * key never held material; false or absent when it was taken from DescribeKey (or not asked).
   */
  materialsListed?: boolean;
  /** From DescribeKey, when KMS lists them: used to pick the verification round trip. */
  signingAlgorithms?: string[];
  macAlgorithms?: string[];
  encryptionAlgorithms?: string[];
}

export type Classification =
  | { kind: 'not-managed'; reason: string }
  | { kind: 'not-external'; reason: string }
  | { kind: 'pending-deletion'; reason: string }
  | { kind: 'disabled'; reason: string }
  /** PendingImport and KMS lists no material at all: never imported, so recovery has nothing to restore. */
  | { kind: 'never-imported'; reason: string }
  | { kind: 'unavailable'; reason: string }
  | { kind: 'healthy'; reason: string; validTo?: string }
  | { kind: 'expiring'; reason: string; validTo: string; secondsLeft: number }
  /** missingMaterialIds: materials known to be PENDING_IMPORT; empty when KMS does not say which (then the current one). */
  | { kind: 'pending-import'; reason: string; missingMaterialIds: string[] };

export type RequestedAction = 'recover' | 'renew' | 'plan' | 'auto';

/** Parameters from GetParametersForImport, base64 so they can travel in state payloads (they are not secret). */
export interface ImportParameters {
  keyId: string;
  wrappingAlgorithm: string;
  wrappingKeySpec: string;
  /** base64 of the DER SubjectPublicKeyInfo */
  publicKey: string;
  /** base64 */
  importToken: string;
  /** ISO 8601 */
  parametersValidTo: string;
}

export type OutcomeStatus = 'recovered' | 'renewed' | 'rotated' | 'skipped' | 'failed' | 'planned';

/** The result of one run for one key, readable by a person and alarmable by a machine. */
export interface Outcome {
  status: OutcomeStatus;
  keyId: string;
  keyArn?: string;
  requestedRef: KeyRef;
  action: RequestedAction | 'rotate';
  /** Why skipped / failed / what a plan would do, naming the key and the next step. */
  reason?: string;
  /** Named error class (e.g. IncorrectKeyMaterial) when failed. */
  errorName?: string;
  /** The materials imported by this run. */
  imported: Array<{ keyMaterialId?: string; validTo?: string; expirationModel: string }>;
  keyStateBefore?: string;
  keyStateAfter?: string;
  verified?: boolean;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  /** Number of calls per API operation made by this run, e.g. { GetParametersForImport: 1 }. */
  calls: Record<string, number>;
  /** What a rotation did (status `rotated`), or would do: the mode, and the material or key it rotated to. */
  rotation?: RotationRecord;
  /**
   * A plan only (status `planned`): the run would not do what the plan says it would try. Absent
   * when the run is expected to do it (or simply has nothing to do).
   */
  wouldFail?: WouldFail;
}

/**
 * How a run would end when it cannot do its work, foreseen by a plan before it starts: `failed`
 * with a named error (EscrowMissing, EscrowInvalid, ...) or `skipped` by name (KeyNotManaged,
 * KeyNotEligible). `reason` says why and what to do first; it never holds material.
 */
export interface WouldFail {
  status: 'failed' | 'skipped';
  errorName: string;
  reason: string;
}

/** A rotation's record in its outcome: IDs and alias names only. */
export interface RotationRecord {
  mode: 'in-place' | 'alias-swap';
  fromKeyMaterialId?: string;
  toKeyMaterialId?: string;
  newKeyId?: string;
  aliasesMoved?: string[];
}
