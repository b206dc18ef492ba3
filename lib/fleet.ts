/**
 * Fleet runs: recovering and renewing many keys at once under one adaptive pace of KMS's import
 * operations (lib/pace.ts), outages first as the sweep orders them. The CLI's `sweep` and the
 * benchmark call it; each key is still one recoverKey run with its own lease, checks and outcome.
 */
import type { ReimportConfig } from './config.js';
import { importPaces, paceCalls, type ImportPaces } from './pace.js';
import { recoverKey, type RecoverDeps } from './recover.js';
import { mapBounded } from './sweep.js';
import type { Outcome } from './types.js';

/** Work items of a fleet run, in the order to start them (outages first, as the sweep orders them). */
export interface FleetWorkItem {
  keyRef: string;
  action: 'recover' | 'renew';
}

export interface PacedFleetOptions {
  config: ReimportConfig;
  /** Runs in flight at once (1..50, default 4): enough to keep the paces busy. */
  concurrency?: number;
  now?: () => Date;
  /** The paces to share (default importPaces(config)); pass them to read their stats afterwards. */
  paces?: ImportPaces;
  /** Called with each outcome as its run ends. */
  onOutcome?: (outcome: Outcome) => void;
  /**
   * A fresh lease owner for each run (runs in flight at once must not share one, or one could take
   * the other's lease as its own retried write). Unset: deps.leaseOwner, else recoverKey's own fresh one.
   */
  leaseOwner?: () => string;
}

/**
 * Recovers and renews many keys under one adaptive pace: each item is a recoverKey run (its lease,
 * checks and outcome unchanged), `concurrency` at a time, started in the items' order, all sending
 * their import calls through `deps.kms` paced by the shared paces (the runs' own fixed interval is
 * off: the pace decides). Never throws for one key: its outcome says what happened.
 */
export async function runPacedFleet(deps: RecoverDeps, items: readonly FleetWorkItem[], options: PacedFleetOptions): Promise<Outcome[]> {
  const concurrency = options.concurrency ?? 4;
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 50) {
    throw new RangeError(`fleet concurrency must be an integer from 1 to 50, got ${concurrency}`);
  }
  // The runs' injected clock and sleep (tests) pace them too.
  const timing = { ...(deps.monotonicNow ? { now: deps.monotonicNow } : {}), ...(deps.sleep ? { sleep: deps.sleep } : {}) };
  const paces = options.paces ?? importPaces(options.config, timing);
  const config: ReimportConfig = { ...options.config, parametersIntervalMs: 0 };
  const detach = paceCalls(deps.kms, { GetParametersForImport: paces.GetParametersForImport, ImportKeyMaterial: paces.ImportKeyMaterial });
  try {
    return await mapBounded(items, concurrency, async (item) => {
      const outcome = await recoverKey(options.leaseOwner ? { ...deps, leaseOwner: options.leaseOwner() } : deps, item.keyRef, { action: item.action, config, ...(options.now ? { now: options.now } : {}) });
      options.onOutcome?.(outcome);
      return outcome;
    });
  } finally {
    detach();
  }
}
