/**
 * onboard, run: parse is done (cli/onboard-command.ts), so this reads the material once, calls the
 * library (adoptKey, createManagedKey), prints the result (stdout) and returns the exit code.
 * Loaded only when `onboard` runs. Material buffers are wiped as soon as their key is done; nothing
 * printed ever holds material (results carry IDs, names, dates and counts).
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { createClients, type AwsClients } from '../lib/aws/clients.js';
import { loadConfig, type ReimportConfig } from '../lib/config.js';
import { toNamedError } from '../lib/errors.js';
import { adoptKey, type AdoptResult } from '../lib/material/adopt.js';
import { createManagedKey, type CreatedKey } from '../lib/material/create.js';
import { readMaterialFile, readMaterialStream } from '../lib/material/file.js';
import { GENERATABLE_KEY_SPECS } from '../lib/material/generate.js';
import { runParametersPacer, type ParametersPacer } from '../lib/run.js';
import type { OnboardCommandOptions, OnboardMode } from './onboard-command.js';
import { clientOptionsFrom, EXIT, outputFormatOf, progress, progressLogger, type ExitCode } from './options.js';

/** One key's result, as printed (JSON) and tabled. */
export type OnboardReport =
  | ({ status: 'onboarded'; requestedRef: string } & AdoptResult)
  | ({ status: 'created' } & CreatedKey)
  | { status: 'failed'; requestedRef: string; keyId?: string; errorName: string; reason: string };

export interface OnboardIo {
  print: (text: string) => void;
  stdin: AsyncIterable<Buffer | string>;
}

const DEFAULT_IO: OnboardIo = { print: (text) => console.log(text), stdin: process.stdin };

function failed(requestedRef: string, e: unknown): OnboardReport {
  const named = toNamedError(e, requestedRef);
  return { status: 'failed', requestedRef, ...(named.keyId && named.keyId !== requestedRef ? { keyId: named.keyId } : {}), errorName: named.name, reason: named.message };
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

/** The human line of one result. */
export function summariseOnboard(r: OnboardReport, config: Pick<ReimportConfig, 'managedTagKey' | 'managedTagValue'>): string {
  const calls = (c: Record<string, number>) => Object.values(c).reduce((a, b) => a + b, 0);
  const expiry = (i: { expirationModel: string; validTo?: string }) => (i.validTo ? `valid to ${i.validTo}` : i.expirationModel);
  const replicas = (e: { replicas?: Array<{ region: string; status: string }> }) =>
    e.replicas && e.replicas.length > 0 ? ` (replicas: ${e.replicas.map((x) => `${x.region} ${x.status}`).join(', ')})` : '';
  switch (r.status) {
    case 'onboarded': {
      const key = r.requestedRef !== r.keyId ? `key ${r.keyId} (${r.requestedRef})` : `key ${r.keyId}`;
      const proof = r.proof === 'reimport' ? 'proven by a reimport into the Enabled key' : 'proven by recovering its missing material';
      return oneLine(
        `ONBOARDED ${key} [${r.keyStateBefore} -> ${r.keyStateAfter}]: ${proof}${r.publicKeyMatched ? ' (its public key matched first)' : ''} (${expiry(r.imported)}), ` +
          `escrowed in ${r.escrow.secretId}${replicas(r.escrow)}, ${r.tagged ? `tagged ${config.managedTagKey}=${config.managedTagValue}` : 'already tagged managed'}, verified (${r.verified}); ${calls(r.calls)} AWS calls` +
          (r.replicasNotTagged ?? []).map((n) => `; replica in ${n.region} NOT tagged: ${n.reason}; fix: ${n.fix}`).join(''),
      );
    }
    case 'created':
      return oneLine(
        `CREATED key ${r.keyId}${r.alias ? ` (${r.alias})` : ''}: ${r.keySpec} ${r.keyUsage}, tagged ${config.managedTagKey}=${config.managedTagValue}, material generated in memory, ` +
          `escrowed in ${r.escrow.secretId}${replicas(r.escrow)}, then imported (${expiry(r.imported)}), verified (${r.verified}); ${calls(r.calls)} AWS calls`,
      );
    case 'failed':
      return oneLine(`FAILED key ${r.keyId && r.keyId !== r.requestedRef ? `${r.keyId} (${r.requestedRef})` : r.requestedRef}: ${r.errorName}: ${r.reason}`);
  }
}

/** Exit code of one result: a refused file is bad usage (2), any other failure 1. */
function exitOf(r: OnboardReport): ExitCode {
  if (r.status !== 'failed') return EXIT.done;
  return r.errorName === 'MaterialFileInvalid' ? EXIT.usage : EXIT.failed;
}

async function adoptOne(
  clients: AwsClients,
  config: ReimportConfig,
  keyRef: string,
  read: () => Promise<Buffer>,
  source: string,
  options: OnboardCommandOptions,
  extra: { paceParameters?: ParametersPacer } = {},
): Promise<OnboardReport> {
  let material: Buffer | undefined;
  try {
    material = await read();
    const result = await adoptKey({ ...clients, logger: progressLogger(), ...extra }, keyRef, material, {
      config,
      source,
      progress: (line) => progress(line),
      ...(options.escrowKmsKeyId ? { escrowKmsKeyId: options.escrowKmsKeyId } : {}),
      ...(options.escrowReplicaKmsKeyId ? { escrowReplicaKmsKeyIds: options.escrowReplicaKmsKeyId } : {}),
    });
    return { status: 'onboarded', requestedRef: keyRef, ...result };
  } catch (e) {
    return failed(keyRef, e);
  } finally {
    material?.fill(0);
  }
}

interface DirectoryRow {
  file: string;
  report: OnboardReport;
}

function table(rows: DirectoryRow[], config: ReimportConfig): string {
  const cells = rows.map(({ file, report }) => {
    const key = report.status === 'failed' ? (report.keyId ?? report.requestedRef) : report.keyId;
    const why = report.status === 'failed' ? `${report.errorName}: ${report.reason}` : summariseOnboard(report, config).replace(/^ONBOARDED [^:]*: /, '');
    return [key, report.status === 'failed' ? 'FAILED' : 'ONBOARDED', file, oneLine(why)];
  });
  const all = [['KEY', 'OUTCOME', 'FILE', 'REASON'], ...cells];
  const widths = [0, 1, 2].map((i) => Math.max(...all.map((r) => r[i]!.length)));
  return all.map((r) => r.map((cell, i) => (i < 3 ? cell.padEnd(widths[i]!) : cell)).join('  ')).join('\n');
}

async function onboardDirectory(
  command: Command,
  clients: AwsClients,
  config: ReimportConfig,
  dir: string,
  options: OnboardCommandOptions,
  io: OnboardIo,
): Promise<ExitCode> {
  let names: string[];
  try {
    const entries = await readdir(dir, { withFileTypes: true });
    names = entries.filter((e) => e.name.endsWith('.bin') && !e.isDirectory()).map((e) => e.name).sort();
  } catch (e) {
    const code = (e as { code?: string }).code;
    command.error(`error: --all-from-dir ${dir} cannot be read (${code ?? 'error'}): give a directory holding one <key-id>.bin per key`, {
      exitCode: EXIT.usage,
      code: 'kms-reimport.onboardDirectory',
    });
    return EXIT.usage;
  }
  if (names.length === 0) {
    progress(`onboard: no <key-id>.bin file in ${dir}; nothing to do`);
    if (outputFormatOf(options) === 'json') io.print(JSON.stringify({ directory: dir, onboarded: 0, failed: 0, results: [] }, null, 2));
    return EXIT.nothingToDo;
  }
  // One pacer for the whole directory: KMS allows about one GetParametersForImport a second (parametersIntervalMs).
  const paceParameters = runParametersPacer(config, {}, progressLogger(), dir);
  const rows: DirectoryRow[] = [];
  for (const name of names) {
    const keyRef = name.slice(0, -'.bin'.length);
    const path = join(dir, name);
    progress(`onboard: ${keyRef} from ${path}`);
    rows.push({ file: name, report: await adoptOne(clients, config, keyRef, () => readMaterialFile(path), `Material file ${path}`, options, { paceParameters }) });
  }
  const failures = rows.filter((r) => r.report.status === 'failed').length;
  if (outputFormatOf(options) === 'json') {
    io.print(JSON.stringify({ directory: dir, onboarded: rows.length - failures, failed: failures, results: rows.map((r) => ({ file: r.file, ...r.report })) }, null, 2));
  } else {
    io.print(table(rows, config));
    io.print(`${rows.length - failures} onboarded, ${failures} failed, of ${rows.length} file(s) in ${dir}`);
  }
  return failures > 0 ? EXIT.failed : EXIT.done;
}

export async function runOnboard(command: Command, mode: OnboardMode, options: OnboardCommandOptions, io: OnboardIo = DEFAULT_IO): Promise<ExitCode> {
  if (mode.kind === 'new' && !(GENERATABLE_KEY_SPECS as readonly string[]).includes(mode.keySpec)) {
    command.error(`error: --key-spec ${mode.keySpec} cannot take imported material; use one of ${GENERATABLE_KEY_SPECS.join(', ')}`, {
      exitCode: EXIT.usage,
      code: 'kms-reimport.onboardKeySpec',
    });
  }
  const config = loadConfig(process.env);
  const clients = createClients(clientOptionsFrom(options));
  const json = outputFormatOf(options) === 'json';
  const show = (r: OnboardReport) => io.print(json ? JSON.stringify(r, null, 2) : summariseOnboard(r, config));
  try {
    switch (mode.kind) {
      case 'dir':
        return await onboardDirectory(command, clients, config, mode.dir, options, io);
      case 'new': {
        let report: OnboardReport;
        try {
          const created = await createManagedKey(
            { ...clients, logger: progressLogger() },
            {
              keySpec: mode.keySpec,
              config,
              progress: (line) => progress(line),
              ...(options.keyUsage ? { keyUsage: options.keyUsage } : {}),
              ...(options.alias ? { alias: options.alias } : {}),
              ...(options.description ? { description: options.description } : {}),
              ...(options.expirationModel ? { expirationModel: options.expirationModel } : {}),
              ...(options.escrowKmsKeyId ? { escrowKmsKeyId: options.escrowKmsKeyId } : {}),
            },
          );
          report = { status: 'created', ...created };
        } catch (e) {
          report = failed(options.alias ?? 'new key', e);
        }
        show(report);
        return exitOf(report);
      }
      case 'file':
      case 'stdin': {
        const source = mode.kind === 'file' ? `Material file ${mode.materialFile}` : 'The material on standard input';
        const read = mode.kind === 'file' ? () => readMaterialFile(mode.materialFile) : () => readMaterialStream(io.stdin, 'Standard input');
        const report = await adoptOne(clients, config, mode.keyRef, read, source, options);
        if (report.status === 'failed' && report.errorName === 'MaterialFileInvalid') {
          // Bad input, nothing changed: said on stderr like any other usage error.
          process.stderr.write(`error: ${report.reason}\n`);
          if (json) show(report);
          return EXIT.usage;
        }
        show(report);
        return exitOf(report);
      }
    }
  } finally {
    clients.kms.destroy();
    clients.secrets.destroy();
  }
}
