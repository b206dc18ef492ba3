/**
 * recover / renew / plan, run locally: one key through the library's recoverKey, the same engine
 * the Lambdas use. Loaded only when one of those commands runs (cli/keys.ts registers them).
 */
import { recoverKey } from '../lib/reimport.js';
import type { Outcome, RequestedAction } from '../lib/types.js';
import { progressLogger } from './options.js';
import { runOneKey, type OneKeyOptions } from './one-key.js';

export async function runKeyCommand(
  action: RequestedAction,
  keyRef: string,
  options: OneKeyOptions,
  print: (line: string) => void = console.log,
): Promise<Outcome> {
  return runOneKey(action === 'plan', options, print, (deps, config) => recoverKey({ ...deps, logger: progressLogger() }, keyRef, { action, config }));
}
