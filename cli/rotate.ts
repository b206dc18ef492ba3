/**
 * rotate (and `plan --action rotate`): one key, through the library's rotateKey. Loaded only when
 * the command runs (cli/rotate-command.ts registers it), so `--help` stays light.
 */
import { rotateKey, type RotationMode } from '../lib/rotate.js';
import type { Outcome } from '../lib/types.js';
import { progressLogger } from './options.js';
import { runOneKey, type OneKeyOptions } from './one-key.js';

export interface RotateCommandOptions extends OneKeyOptions {
  mode?: RotationMode;
  rotationId?: string;
}

export async function runRotateCommand(
  action: 'rotate' | 'plan',
  keyRef: string,
  options: RotateCommandOptions,
  print: (line: string) => void = console.log,
): Promise<Outcome> {
  return runOneKey(action === 'plan', options, print, (deps, config) =>
    rotateKey({ ...deps, logger: progressLogger() }, keyRef, {
      action,
      config,
      ...(options.mode ? { mode: options.mode } : {}),
      ...(options.rotationId ? { rotationId: options.rotationId } : {}),
    }),
  );
}
