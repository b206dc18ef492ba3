/**
 * Rotation by alias swap (work in progress: the signature is fixed, the body lands next).
 */
import type { KMSClient } from '@aws-sdk/client-kms';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { ReimportConfig } from '../config.js';
import { UnexpectedError } from '../errors.js';
import type { RecoverLogger } from '../recover.js';
import type { KeyReport } from '../types.js';

export interface AliasSwapDeps {
  kms: KMSClient;
  secrets: SecretsManagerClient;
  logger?: RecoverLogger;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  monotonicNow?: () => number;
}

export interface AliasSwapResult {
  oldKeyId: string;
  newKeyId: string;
  newKeyArn: string;
  aliasesMoved: string[];
  keyMaterialId?: string;
  validTo?: string;
  resumed: string[];
}

export async function rotateByAliasSwap(deps: AliasSwapDeps, report: KeyReport, config: ReimportConfig, now: () => Date): Promise<AliasSwapResult> {
  void deps;
  void config;
  void now;
  throw new UnexpectedError(`alias-swap rotation of key ${report.keyId} is not implemented yet; nothing was done.`, { keyId: report.keyId });
}
