/**
 * What every benchmark module shares: medians, whole-process timing (wall time and peak RSS), the
 * machine's description, and the local endpoint's environment for child processes. No figure is
 * asserted anywhere: the bench prints and records, and the README says where a target is missed.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const REGION = 'us-east-1';
/**
 * Every process of one bench signs with an access key id that is not 12 digits, so that the
 * endpoint puts it in its default account, as it does test/support/local-aws.ts's clients.
 */
export const CREDENTIALS = { accessKeyId: 'AKIDBENCHLOCAL', secretAccessKey: 'bench-local-endpoint' };

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Rounds for the results file: enough digits to compare runs, no float noise. */
export function round(value: number, digits = 2): number {
  if (!Number.isFinite(value)) return value;
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

export function mib(bytes: number): number {
  return round(bytes / 1024 / 1024, 1);
}

export interface Machine {
  cpus: number;
  model: string;
  memoryMiB: number;
  platform: string;
  node: string;
  /** 1-minute load average when the run started (a busy machine slows every figure). */
  loadAverageAtStart: number;
}

export function describeMachine(): Machine {
  const list = cpus();
  return {
    cpus: list.length,
    model: list[0]?.model.trim() ?? 'unknown',
    memoryMiB: Math.round(totalmem() / 1024 / 1024),
    platform: `${process.platform} ${process.arch}`,
    node: process.version,
    loadAverageAtStart: round(loadavg()[0] ?? Number.NaN, 1),
  };
}

/** Environment for a child process (AWS CLI, kms-reimport) that talks to the local endpoint only. */
export function endpointEnv(url: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  // Nothing from the caller's AWS setup (profiles, real endpoints) reaches the child.
  for (const name of Object.keys(env)) if (name.startsWith('AWS_') || name.startsWith('KMS_REIMPORT_')) delete env[name];
  return {
    ...env,
    AWS_ENDPOINT_URL: url,
    AWS_REGION: REGION,
    AWS_DEFAULT_REGION: REGION,
    AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    AWS_PAGER: '',
    ...extra,
  };
}

const GNU_TIME = '/usr/bin/time';
/**
 * GNU time reports the child's peak RSS ("Maximum resident set size (kbytes)"); without it (or with
 * BENCH_GNU_TIME=0, to try that path), node processes report their own.
 */
export const hasGnuTime = process.env.BENCH_GNU_TIME !== '0' && existsSync(GNU_TIME) && spawnSync(GNU_TIME, ['-v', 'true'], { stdio: 'ignore' }).status === 0;
const RSS_REPORTER = pathToFileURL(resolve(repoRoot, 'bench', 'report-rss.mjs')).href;

export interface ProcessRun {
  /** Wall time from spawn to exit, in ms, as the parent saw it. */
  wallMs: number;
  /** Peak resident set size of the measured process, in MiB. */
  peakRssMiB: number;
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a command to its end, measuring wall time and the peak RSS of the command itself: GNU time
 * -v when present, else (node commands only) bench/report-rss.mjs preloaded into the process,
 * which prints its own process.resourceUsage().maxRSS at exit. GNU time adds a fork and an exec
 * (about a millisecond) to the wall time.
 */
export function runProcess(command: string, args: readonly string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<ProcessRun> {
  const base = options.env ?? process.env;
  const [file, argv, env] = hasGnuTime
    ? [GNU_TIME, ['-v', command, ...args], base]
    : [command, [...args], { ...base, NODE_OPTIONS: `${base.NODE_OPTIONS ?? ''} --import ${RSS_REPORTER}`.trim() }];
  return new Promise((resolvePromise, reject) => {
    const started = performance.now();
    const child = spawn(file, argv, { env, cwd: options.cwd ?? repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (status) => {
      const wallMs = performance.now() - started;
      let stderr = Buffer.concat(err).toString('utf8');
      const marker = hasGnuTime ? /Maximum resident set size \(kbytes\): (\d+)/ : /^peak-rss-kib (\d+)$/m;
      const found = marker.exec(stderr);
      if (hasGnuTime) stderr = stderr.replace(/\n?\s*Command being timed:[\s\S]*$/, '');
      else stderr = stderr.replace(/^peak-rss-kib \d+\n?/m, '');
      // GNU time exits with the command's status; it prefixes "Command exited with non-zero status".
      resolvePromise({ wallMs, peakRssMiB: found ? round(Number(found[1]) / 1024, 1) : Number.NaN, status, stdout: Buffer.concat(out).toString('utf8'), stderr });
    });
  });
}

/** The first command of `candidates` that runs (`<cmd> --version` exits 0), or undefined. */
export function firstWorking(candidates: readonly string[], versionArgs: readonly string[] = ['--version']): { command: string; version: string } | undefined {
  for (const command of candidates) {
    const probe = spawnSync(command, versionArgs, { encoding: 'utf8', env: { ...process.env, AWS_PAGER: '' } });
    if (probe.status === 0) return { command, version: `${probe.stdout}${probe.stderr}`.trim().split('\n')[0] ?? '' };
  }
  return undefined;
}

export function readJson<T>(path: string): T {
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** One line of progress on stderr (the table goes to stdout). */
export function progress(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

/** The 1-minute load average now. */
export function loadAverage(): number {
  return round(loadavg()[0] ?? Number.NaN, 1);
}

/** What bin/kms-reimport.js prints on stderr when it (re)builds its bundle before running. */
const CLI_REBUILD = /building the command line/;

export function cliRebuilt(run: Pick<ProcessRun, 'stderr'>): boolean {
  return CLI_REBUILD.test(run.stderr);
}

/**
 * Makes sure the CLI's prebuilt bundle is fresh before timing it (bin/kms-reimport.js builds it on
 * the first start after a source file changed; a user pays that once, after an install or update).
 */
export async function warmCli(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  await runProcess(process.execPath, ['bin/kms-reimport.js', '--help'], { env });
}
