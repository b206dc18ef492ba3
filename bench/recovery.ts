/**
 * The recovery critical path, and the seed's way beside it, in one run against one endpoint whose
 * every call waits L ms before it is handled (controls latency '*'): the chain is 5 x L and every
 * figure below includes this machine's own work on top of it.
 *
 * How it is measured, and what is kept out (none of it is work a client of the real KMS does):
 * - The endpoint runs in its own worker thread (local/worker.ts, startLocalEndpointInWorker, the
 *   same emulation as in process): its request parsing, RSA-OAEP unwrap, AES work, bookkeeping and
 *   garbage collection run on their own event loop and core, not on the event loop that times the
 *   library, as KMS's server work runs on AWS's machines. Its handling still happens after the L
 *   ms on every call, so it is still on the critical path; only the sharing of one thread is gone.
 *   The bench sets the latency and reads the call counters through the worker's controls (the
 *   same Controls object the server applies, reached synchronously from here).
 * - Wrapping keys come from the endpoint's pool (RSA_2048 for all three ways, as in the seed) so
 *   the emulator's RSA key generation is out; the pool makes up a taken pair only
 *   POOL_REFILL_DELAY_MS after the take, i.e. after the sample, while the bench pauses between
 *   samples, so no generation competes for the two cores during a sample.
 * - Timed: from the first call of recoverKey to its outcome, with performance.now(), in this
 *   process; the CLI and the seed's script as whole processes (wall time).
 * - For comparison (libraryInProcessMs, not the headline): the same library samples against the
 *   emulation started in this thread. On an idle machine it comes out a few ms faster, because
 *   the client then needs no wake-up for an answer (the thread that served it is already awake;
 *   two threads idle during L each pay one); on a loaded one it comes out slower (the emulation's
 *   work, GC included, queues behind or ahead of the client's). At L = 0,
 *   libraryNoLatencyBusyMs says how much of the time is each thread's work.
 *
 * Each sample recovers a fresh PendingImport key (material deleted, escrowed, managed):
 * - library: lib's recoverKey in this process (median of the samples);
 * - cli: `kms-reimport recover <key>` (bin/kms-reimport.js) as a whole process;
 * - seed: bench/seed-recover.sh (AWS CLI get-parameters-for-import, openssl OAEP wrap,
 *   import-key-material), skipped with a message when no AWS CLI or openssl runs here;
 * - workflow (bench/workflow.ts): the state machine with each task its real handler.
 * The chain: 5 dependent round trips for a key ID (DescribeKey → GetParametersForImport ∥
 * GetSecretValue → ImportKeyMaterial → Encrypt → Decrypt), so the floor is 5 × L.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { performance } from 'node:perf_hooks';
import { join } from 'node:path';
import { DeleteImportedKeyMaterialCommand, DescribeKeyCommand } from '@aws-sdk/client-kms';
import { onboardKey, startLocalAws, startLocalAwsInWorker, type LocalAws, type OnboardedKey } from '../test/support/local-aws.js';
import { recoverKey } from '../lib/recover.js';
import { trackRoundTrips } from '../test/support/round-trips.js';
import { describeRoundTrips, roundTrips, type TimedCall } from './timeline.js';
import type { WorkflowTiming } from './workflow.js';
import type { WorkerEndpoint } from '../local/worker.js';
import { cliRebuilt, endpointEnv, firstWorking, median, progress, REGION, round, runProcess, sleep, warmCli } from './measure.js';

export const CHAIN_ROUND_TRIPS = 5;
const WRAPPING = { wrappingAlgorithm: 'RSAES_OAEP_SHA_256', wrappingKeySpec: 'RSA_2048' } as const;

export interface RecoveryFigures {
  latencyMs: number;
  samples: number;
  chainRoundTrips: number;
  chainMs: number;
  libraryMs: number;
  libraryCalls: number;
  /** Round trips made one after another (test/support/round-trips.ts chain()), and the calls grouped by round trip (last sample). */
  libraryRoundTrips: number;
  libraryCallSequence: string;
  /** The same library recovery with no added latency: this machine's own cost (SDK, emulation, wrapping). */
  libraryNoLatencyMs: number;
  /**
   * Where those ms go (medians at L = 0, event-loop busy time): this thread (the SDK, the engine,
   * the client side of HTTP) and the endpoint's thread (the emulation and the server side of HTTP).
   * The two overlap when calls run side by side; on a loaded machine both include time spent
   * waiting for a core.
   */
  libraryNoLatencyBusyMs: { client: number; endpoint: number };
  /**
   * The same library recovery at L against the same emulation started in this thread instead
   * (startLocalAws, same pool and refill delay), for comparison, never the headline: there the
   * emulator's work shares the client's event loop, and the client needs no wake-up of its own
   * for an answer (the thread that served it is already awake); each model counts some emulator
   * cost that a real KMS would not put on the client.
   */
  libraryInProcessMs: number;
  ratioToChain: number;
  cliProcessMs: number;
  cliRatioToChain: number;
  /** Peak RSS of `kms-reimport recover` (the largest of the samples). */
  cliPeakRssMiB: number;
  /** CLI samples left out because the CLI rebuilt its bundle first. */
  cliRebuilds: number;
  seedScriptMs: number | null;
  seedSkipped?: string;
  awsCli?: string;
  /** Wall time of `aws --version` (median): what each of the script's two AWS CLI calls pays to start. */
  awsCliStartMs?: number;
  /** library time / seed script time, and the CLI process's. */
  ratioToSeedScript: number | null;
  cliRatioToSeedScript: number | null;
  workflowMs?: number | null;
  workflowRatioToChain?: number | null;
  workflowSkipped?: string;
  workflowCalls?: number;
  /** Per task handler, per execution: times run, calls, ms inside. */
  workflowTasks?: Record<string, { runs: number; calls: number; ms: number }>;
}

/** Hands out fresh PendingImport keys. */
export type NextKey = () => Promise<OnboardedKey>;

/**
 * Makes `count` managed keys with escrowed material, each PendingImport (material deleted), all
 * before any sample runs, then lets the wrapping-key pool refill. Each sample then takes one key
 * and, after a pause for the pool to make up the one wrapping key the sample used, no sample
 * waits for a key generation.
 */
export async function preparePendingKeys(aws: LocalAws, count: number): Promise<NextKey> {
  aws.endpoint.controls.setLatency('*', 0);
  const keys: OnboardedKey[] = [];
  for (let i = 0; i < count; i++) {
    const key = await onboardKey(aws, 'SYMMETRIC_DEFAULT', { lifetimeSeconds: 3600, wrapping: WRAPPING });
    await aws.kms.send(new DeleteImportedKeyMaterialCommand({ KeyId: key.keyId }));
    keys.push(key);
  }
  await sleep(POOL_REFILL_DELAY_MS + POOL_REFILL_MS * POOL_SIZE);
  return async () => {
    const key = keys.shift();
    if (!key) throw new Error('bench: more recovery samples than prepared keys');
    await sleep(POOL_REFILL_DELAY_MS + POOL_REFILL_MS);
    return key;
  };
}

/** Wrapping keys the endpoint keeps generated ahead, and a pause long enough for one RSA_2048 generation on a busy machine. */
const POOL_SIZE = 4;
const POOL_REFILL_MS = 500;
/** The pool makes up a taken pair this long after the take: after the sample that took it (one sample is a few L). */
export const POOL_REFILL_DELAY_MS = 300;

/**
 * Starts the endpoint the recovery samples share, in its own worker thread: a wrapping-key pool
 * refilled only after POOL_REFILL_DELAY_MS, no quotas.
 */
export function startRecoveryEndpoint(): Promise<LocalAws & { endpoint: WorkerEndpoint }> {
  return startLocalAwsInWorker({ kms: ENDPOINT_KMS_OPTIONS }, { wrappingKeySpec: 'RSA_2048' });
}

const ENDPOINT_KMS_OPTIONS = { wrappingKeyPoolSize: POOL_SIZE, wrappingKeyPoolRefillDelayMs: POOL_REFILL_DELAY_MS };

export async function timeOne<T>(aws: LocalAws, latencyMs: number, run: () => Promise<T>): Promise<{ ms: number; result: T; calls: number }> {
  aws.endpoint.controls.resetCounters();
  aws.endpoint.controls.setLatency('*', latencyMs);
  const started = performance.now();
  const result = await run();
  const ms = performance.now() - started;
  aws.endpoint.controls.setLatency('*', 0);
  const calls = Object.values(aws.endpoint.controls.getCounters()).reduce((s, c) => s + c.calls, 0);
  return { ms, result, calls };
}

export async function benchRecovery(opts: { latencyMs: number; samples: number; workflow?: (aws: LocalAws, latencyMs: number, samples: number, nextKey: NextKey) => Promise<WorkflowTiming> }): Promise<RecoveryFigures> {
  const { latencyMs: L, samples } = opts;
  const aws = await startRecoveryEndpoint();
  const env = endpointEnv(aws.endpoint.url, { KMS_REIMPORT_WRAPPING_KEY_SPEC: 'RSA_2048', NODE_NO_WARNINGS: '1' });
  const work = mkdtempSync(join(tmpdir(), 'kms-reimport-bench-'));
  try {
    progress(`recovery: preparing ${5 * samples} PendingImport keys`);
    const pendingKey = await preparePendingKeys(aws, 5 * samples);
    progress(`recovery: library, ${samples} samples at L = ${L} ms`);
    const library: number[] = [];
    let libraryCalls = 0;
    let trips: TimedCall[][] = [];
    let chain = 0;
    for (let i = 0; i < samples; i++) {
      const key = await pendingKey();
      const tracked = trackRoundTrips();
      const deps = { kms: tracked.watch(aws.kms), secrets: tracked.watch(aws.secrets), logger: aws.logger };
      const { ms, result, calls } = await timeOne(aws, L, () => recoverKey(deps, key.keyId, { action: 'recover', config: aws.config, now: aws.now }));
      chain = tracked.chain();
      trips = roundTrips(tracked.calls);
      key.material.fill(0);
      if (result.status !== 'recovered') throw new Error(`library recovery of ${key.keyId} ended ${result.status}: ${result.reason ?? ''}`);
      library.push(ms);
      libraryCalls = calls;
    }
    progress(`recovery: library against the endpoint in this thread (comparison), ${samples} samples at L = ${L} ms`);
    const inProcess: number[] = [];
    const local = await startLocalAws({ kms: ENDPOINT_KMS_OPTIONS }, { wrappingKeySpec: 'RSA_2048' });
    try {
      const localKey = await preparePendingKeys(local, samples);
      for (let i = 0; i < samples; i++) {
        const key = await localKey();
        const { ms, result } = await timeOne(local, L, () => recoverKey({ kms: local.kms, secrets: local.secrets, logger: local.logger }, key.keyId, { action: 'recover', config: local.config, now: local.now }));
        key.material.fill(0);
        if (result.status !== 'recovered') throw new Error(`library recovery of ${key.keyId} (endpoint in this thread) ended ${result.status}: ${result.reason ?? ''}`);
        inProcess.push(ms);
      }
    } finally {
      await local.close();
    }
    const noLatency: number[] = [];
    const clientBusy: number[] = [];
    const endpointBusy: number[] = [];
    for (let i = 0; i < samples; i++) {
      const key = await pendingKey();
      const { ms, result } = await timeOne(aws, 0, async () => {
        const client = performance.eventLoopUtilization();
        const endpoint = aws.endpoint.eventLoopUtilization();
        const outcome = await aws.recover(key.keyId, 'recover');
        clientBusy.push(performance.eventLoopUtilization(client).active);
        endpointBusy.push(aws.endpoint.eventLoopUtilization(endpoint).active);
        return outcome;
      });
      key.material.fill(0);
      if (result.status !== 'recovered') throw new Error(`library recovery of ${key.keyId} ended ${result.status}: ${result.reason ?? ''}`);
      noLatency.push(ms);
    }
    progress(`recovery: library at L = ${L} ms: ${round(median(library), 1)} ms against the endpoint's own thread, ${round(median(inProcess), 1)} ms against it in this thread`);
    progress(`recovery: at L = 0, ${round(median(noLatency), 1)} ms; busy: this thread (SDK + engine) ${round(median(clientBusy), 1)} ms, the endpoint's thread ${round(median(endpointBusy), 1)} ms`);

    progress(`recovery: kms-reimport recover as a process, ${samples} samples`);
    const cli: number[] = [];
    let cliPeak = 0;
    let cliRebuilds = 0;
    await warmCli(env);
    for (let i = 0; i < samples; i++) {
      const key = await pendingKey();
      key.material.fill(0);
      const { ms, result } = await timeOne(aws, L, () =>
        runProcess(process.execPath, ['bin/kms-reimport.js', 'recover', key.keyId, '--endpoint-url', aws.endpoint.url, '--region', REGION], { env }),
      );
      if (result.status !== 0) throw new Error(`kms-reimport recover ${key.keyId} exited ${result.status}: ${result.stderr.trim().slice(-1500)}`);
      // A start that rebuilt the bundle first (a source changed meanwhile) is not the CLI's steady
      // state: its key is recovered, but its time and memory are left out.
      if (cliRebuilt(result)) {
        cliRebuilds++;
        continue;
      }
      cli.push(ms);
      cliPeak = Math.max(cliPeak, result.peakRssMiB);
    }

    const awsCli = firstWorking(['aws', '/usr/bin/aws']);
    const openssl = firstWorking(['openssl'], ['version']);
    const seed: number[] = [];
    let seedSkipped: string | undefined;
    let awsCliStartMs: number | undefined;
    if (!awsCli || !openssl) {
      seedSkipped = `the seed's script needs ${!awsCli ? 'the AWS CLI (aws)' : 'openssl'}, which is not installed here; .ci/run installs both`;
      progress(`recovery: SKIPPED the seed's script: ${seedSkipped}`);
    } else {
      progress(`recovery: the seed's script (${awsCli.version}), ${samples} samples`);
      for (let i = 0; i < samples; i++) {
        const key = await pendingKey();
        const materialFile = join(work, 'PlaintextKeyMaterial.bin');
        writeFileSync(materialFile, key.material, { mode: 0o600 });
        key.material.fill(0);
        // The plaintext file lives only while the script runs, whatever happens to the run.
        const { ms, result } = await timeOne(aws, L, () => runProcess('bash', ['bench/seed-recover.sh', key.keyId, materialFile, work], { env: { ...env, AWS_CLI: awsCli.command } })).finally(() =>
          rmSync(materialFile, { force: true }),
        );
        if (result.status !== 0) throw new Error(`the seed's script failed for ${key.keyId} (exit ${result.status}): ${result.stderr.trim().slice(-1500)}`);
        const state = await aws.kms.send(new DescribeKeyCommand({ KeyId: key.keyId }));
        if (state.KeyMetadata?.KeyState !== 'Enabled') throw new Error(`the seed's script left ${key.keyId} ${state.KeyMetadata?.KeyState}`);
        seed.push(ms);
      }
      const starts: number[] = [];
      for (let i = 0; i < samples; i++) starts.push((await runProcess(awsCli.command, ['--version'], { env })).wallMs);
      awsCliStartMs = median(starts);
    }

    let workflow: WorkflowTiming | undefined;
    if (opts.workflow) {
      progress(`recovery: the workflow (aws-local-stepfunctions, real handlers), ${samples} samples`);
      try {
        workflow = await opts.workflow(aws, L, samples, pendingKey);
      } catch (error) {
        // The other figures stand; run.ts reports the failure and exits non-zero.
        workflow = { ms: null, skipped: `failed: ${(error as Error).message.split('\n')[0]}` };
        progress(`recovery: the workflow FAILED: ${(error as Error).message}`);
      }
    }

    const chainMs = CHAIN_ROUND_TRIPS * L;
    const libraryMs = median(library);
    const cliMs = median(cli);
    const seedMs = seed.length > 0 ? median(seed) : null;
    return {
      latencyMs: L,
      samples,
      chainRoundTrips: CHAIN_ROUND_TRIPS,
      chainMs,
      libraryMs: round(libraryMs, 1),
      libraryCalls,
      libraryRoundTrips: chain,
      libraryCallSequence: describeRoundTrips(trips),
      libraryNoLatencyMs: round(median(noLatency), 1),
      libraryNoLatencyBusyMs: { client: round(median(clientBusy), 1), endpoint: round(median(endpointBusy), 1) },
      libraryInProcessMs: round(median(inProcess), 1),
      ratioToChain: round(libraryMs / chainMs),
      cliProcessMs: round(cliMs, 1),
      cliRatioToChain: round(cliMs / chainMs),
      cliPeakRssMiB: cliPeak,
      cliRebuilds,
      seedScriptMs: seedMs === null ? null : round(seedMs, 1),
      ...(seedSkipped ? { seedSkipped } : {}),
      ...(awsCli ? { awsCli: `${awsCli.command}: ${awsCli.version}` } : {}),
      ...(awsCliStartMs !== undefined ? { awsCliStartMs: round(awsCliStartMs, 1) } : {}),
      ratioToSeedScript: seedMs ? round(libraryMs / seedMs) : null,
      cliRatioToSeedScript: seedMs ? round(cliMs / seedMs) : null,
      ...(workflow
        ? {
            workflowMs: workflow.ms === null ? null : round(workflow.ms, 1),
            workflowRatioToChain: workflow.ms === null ? null : round(workflow.ms / chainMs),
            ...(workflow.skipped ? { workflowSkipped: workflow.skipped } : {}),
            ...(workflow.calls !== undefined ? { workflowCalls: workflow.calls } : {}),
            ...(workflow.tasks ? { workflowTasks: workflow.tasks } : {}),
          }
        : {}),
    };
  } finally {
    rmSync(work, { recursive: true, force: true });
    await aws.close();
  }
}
