/**
 * The command line as a user runs it, for the e2e tests: the real `kms-reimport` binary in a child
 * process (bin/kms-reimport.js: the prebuilt bundle, built first when stale), with only the
 * environment given (no ambient AWS configuration), and the JSON schemas in schema/ its --json
 * output is checked against. Not a test file itself.
 */
import { execFile } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';

export const BIN = fileURLToPath(new URL('../../bin/kms-reimport.js', import.meta.url));
const SCHEMA_DIR = fileURLToPath(new URL('../../schema/', import.meta.url));

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * The environment the CLI runs with: test credentials and Region (no ambient AWS configuration),
 * plus `env` (a variable set to undefined is left out).
 */
export function cliEnv(env: Record<string, string | undefined> = {}): Record<string, string> {
  const merged: Record<string, string | undefined> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '/tmp',
    AWS_ACCESS_KEY_ID: 'AKIDCLITEST',
    AWS_SECRET_ACCESS_KEY: 'cli-test',
    AWS_REGION: 'us-east-1',
    AWS_EC2_METADATA_DISABLED: 'true',
    ...env,
  };
  return Object.fromEntries(Object.entries(merged).filter((e): e is [string, string] => e[1] !== undefined));
}

/** Runs `kms-reimport ...args` with {@link cliEnv}(env); never throws for an exit code. */
export function runCli(args: string[], env: Record<string, string | undefined> = {}, timeoutMs = 120_000): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      {
        env: cliEnv(env),
        timeout: timeoutMs,
      },
      (error, stdout, stderr) => resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** The --json output shapes, one schema file each: schema/<kind>.schema.json. */
export type OutputKind = 'outcome' | 'status' | 'sweep';

let validators: Map<string, ValidateFunction> | undefined;

function load(): Map<string, ValidateFunction> {
  const ajv = new Ajv2020({ allErrors: true, strict: true, strictRequired: false, strictTypes: false });
  // ISO 8601 timestamps as the CLI writes them (Date.toISOString, KMS's dates).
  ajv.addFormat('date-time', /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$/);
  const files = readdirSync(SCHEMA_DIR).filter((f) => f.endsWith('.schema.json'));
  for (const file of files) ajv.addSchema(JSON.parse(readFileSync(join(SCHEMA_DIR, file), 'utf8')), file);
  return new Map(files.map((file) => [file.replace('.schema.json', ''), ajv.getSchema(file)!]));
}

/** Throws, listing every mismatch, unless `value` matches schema/<kind>.schema.json. */
export function validateOutput(kind: OutputKind | (string & {}), value: unknown): void {
  validators ??= load();
  const validate = validators.get(kind);
  if (!validate) throw new Error(`no schema/${kind}.schema.json`);
  if (!validate(value)) {
    throw new Error(`--json output does not match schema/${kind}.schema.json:\n${JSON.stringify(validate.errors, null, 2)}\n${JSON.stringify(value, null, 2).slice(0, 4000)}`);
  }
}
