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
 *
 * What is left above the floor is a fixed cost per recovery (fixedCostMs = ms − round trips × L:
 * the SDK's CPU per call, a thread wake-up per answer, in the workflow the handlers' middy and
 * Powertools work and the interpreter) that does not grow with L. To show it, the library and the
 * workflow are measured again at a second latency (secondLatencyMs, run.ts --latency2, default
 * 50 ms, the top of the issue's "20–50 ms per call"), on fresh keys from the same endpoint:
 * ratio to chain and fixed cost at both, and the slope (extra ms per extra ms of L, the round
 * trips L is really paid on). The workflow's figures are its whole execution (ExecutionStarted →
 * ExecutionSucceeded, including ReleaseLease and Report) and its time to recovery
 * (ExecutionStarted → the end of the Verify task, the key proven usable).
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
import type { WorkflowLatency, WorkflowTiming } from './workflow.js';
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
  /** The workflow's time to recovery: ExecutionStarted -> the end of Verify (the key proven usable), before ReleaseLease and Report. */
  workflowToRecoveryMs?: number | null;
  workflowToRecoveryRatioToChain?: number | null;
  /**
   * The fixed cost at L: ms - round trips × L, what the recovery costs beyond its latency (the
   * library's own round trips; the workflow's tasks make the chain's, which the slope checks).
   */
  fixedCostMs: number;
  workflowFixedCostMs?: number | null;
  workflowToRecoveryFixedCostMs?: number | null;
  /** The same library and workflow at a second latency (settings.secondLatencyMs), to show the fixed cost does not grow with L. */
  atSecondLatency?: SecondLatencyFigures;
  /**
   * ms added per ms of L between the two latencies: the round trips the latency is really paid
   * on (the chain's 5 if what is left is a fixed cost).
   */
  libraryLatencySlope?: number | null;
  workflowLatencySlope?: number | null;
  /** Per task handler, per execution: times run, calls, ms inside. */
  workflowTasks?: Record<string, { runs: number; calls: number; ms: number }>;
}

export interface SecondLatencyFigures {
  latencyMs: number;
  samples: number;
  chainMs: number;
  libraryMs: number;
  libraryRoundTrips: number;
  ratioToChain: number;
  fixedCostMs: number;
  workflowMs?: number | null;
  workflowRatioToChain?: number | null;
  workflowFixedCostMs?: number | null;
  workflowToRecoveryMs?: number | null;
  workflowToRecoveryRatioToChain?: number | null;
  workflowToRecoveryFixedCostMs?: number | null;
  workflowSkipped?: string;
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

/** KMS and Secrets Manager calls the endpoint answered since its counters were last reset. */
export function endpointCalls(aws: LocalAws): number {
  return Object.values(aws.endpoint.controls.getCounters()).reduce((s, c) => s + c.calls, 0);
}

/** Runs `run` with every endpoint call delayed by latencyMs: its wall time, result, and the calls it made. */
export async function timeOne<T>(aws: LocalAws, latencyMs: number, run: () => Promise<T>): Promise<{ ms: number; result: T; calls: number }> {
  aws.endpoint.controls.resetCounters();
  aws.endpoint.controls.setLatency('*', latencyMs);
  const started = performance.now();
  const result = await run();
  const ms = performance.now() - started;
  aws.endpoint.controls.setLatency('*', 0);
  return { ms, result, calls: endpointCalls(aws) };
}

/** The library's recoverKey on `samples` fresh keys at per-call latency L: the times, and the calls and round trips of the last sample. */
async function libraryAt(aws: LocalAws, nextKey: NextKey, latencyMs: number, samples: number): Promise<{ times: number[]; calls: number; chain: number; trips: TimedCall[][] }> {
  const times: number[] = [];
  let calls = 0;
  let chain = 0;
  let trips: TimedCall[][] = [];
  for (let i = 0; i < samples; i++) {
    const key = await nextKey();
    const tracked = trackRoundTrips();
    const deps = { kms: tracked.watch(aws.kms), secrets: tracked.watch(aws.secrets), logger: aws.logger };
    const timed = await timeOne(aws, latencyMs, () => recoverKey(deps, key.keyId, { action: 'recover', config: aws.config, now: aws.now }));
    chain = tracked.chain();
    trips = roundTrips(tracked.calls);
    key.material.fill(0);
    if (timed.result.status !== 'recovered') throw new Error(`library recovery of ${key.keyId} at L = ${latencyMs} ms ended ${timed.result.status}: ${timed.result.reason ?? ''}`);
    times.push(timed.ms);
    calls = timed.calls;
  }
  return { times, calls, chain, trips };
}

/**
 * What a recovery costs beyond its latency, from the same way measured at two latencies:
 * fixedCostMs = ms - round trips × L at each, and the round trips the latency is actually paid on
 * (the slope: extra ms per extra ms of L), which for a fixed cost that does not grow with L equals
 * the dependent round trips.
 */
export function fixedCost(roundTrips: number, at: { latencyMs: number; ms: number }): number {
  return round(at.ms - roundTrips * at.latencyMs, 1);
}

export function latencySlope(a: { latencyMs: number; ms: number }, b: { latencyMs: number; ms: number }): number | null {
  return a.latencyMs === b.latencyMs ? null : round((b.ms - a.ms) / (b.latencyMs - a.latencyMs));
}

/** The workflow's figures at one latency: the whole execution and its time to recovery, each with its ratio to the chain and its fixed cost. */
function workflowFigures(w: WorkflowTiming, latencyMs: number) {
  const chainMs = CHAIN_ROUND_TRIPS * latencyMs;
  const toRecovery = w.ms === null ? null : (w.toRecoveryMs ?? null);
  return {
    workflowMs: w.ms === null ? null : round(w.ms, 1),
    workflowRatioToChain: w.ms === null ? null : round(w.ms / chainMs),
    workflowFixedCostMs: w.ms === null ? null : fixedCost(CHAIN_ROUND_TRIPS, { latencyMs, ms: w.ms }),
    workflowToRecoveryMs: toRecovery === null ? null : round(toRecovery, 1),
    workflowToRecoveryRatioToChain: toRecovery === null ? null : round(toRecovery / chainMs),
    workflowToRecoveryFixedCostMs: toRecovery === null ? null : fixedCost(CHAIN_ROUND_TRIPS, { latencyMs, ms: toRecovery }),
    ...(w.skipped ? { workflowSkipped: w.skipped } : {}),
  };
}

export async function benchRecovery(opts: {
  latencyMs: number;
  samples: number;
  /** A second per-call latency at which the library and the workflow are measured again (none: not measured). */
  secondLatencyMs?: number;
  secondSamples?: number;
  /** The workflow at each latency asked, one timing each (bench/workflow.ts benchWorkflow). */
  workflow?: (aws: LocalAws, latencies: WorkflowLatency[], nextKey: NextKey) => Promise<WorkflowTiming[]> }): Promise<RecoveryFigures> {
  const { latencyMs: L, samples } = opts;
  const L2 = opts.secondLatencyMs;
  const samples2 = L2 === undefined ? 0 : (opts.secondSamples ?? samples);
  const aws = await startRecoveryEndpoint();
  const env = endpointEnv(aws.endpoint.url, { KMS_REIMPORT_WRAPPING_KEY_SPEC: 'RSA_2048', NODE_NO_WARNINGS: '1' });
  const work = mkdtempSync(join(tmpdir(), 'kms-reimport-bench-'));
  try {
    const keyCount = 5 * samples + (opts.workflow ? 2 : 1) * samples2;
    progress(`recovery: preparing ${keyCount} PendingImport keys`);
    const pendingKey = await preparePendingKeys(aws, keyCount);
    progress(`recovery: library, ${samples} samples at L = ${L} ms`);
    const { times: library, calls: libraryCalls, chain, trips } = await libraryAt(aws, pendingKey, L, samples);
    progress(`recovery: library against the endpoint in this thread (comparison), ${samples} samples at L = ${L} ms`);
    let inProcess: number[];
    const local = await startLocalAws({ kms: ENDPOINT_KMS_OPTIONS }, { wrappingKeySpec: 'RSA_2048' });
    try {
      inProcess = (await libraryAt(local, await preparePendingKeys(local, samples), L, samples)).times;
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

    // The library at the second latency first, then the workflow at both (one set of handlers).
    let again: Awaited<ReturnType<typeof libraryAt>> | undefined;
    if (L2 !== undefined) {
      progress(`recovery: library, ${samples2} samples at the second latency L = ${L2} ms`);
      again = await libraryAt(aws, pendingKey, L2, samples2);
    }
    let workflow: WorkflowTiming | undefined;
    let workflow2: WorkflowTiming | undefined;
    if (opts.workflow) {
      const latencies: WorkflowLatency[] = [{ latencyMs: L, samples }, ...(L2 === undefined ? [] : [{ latencyMs: L2, samples: samples2 }])];
      progress(`recovery: the workflow (aws-local-stepfunctions, real handlers), at ${latencies.map((l) => `L = ${l.latencyMs} ms (${l.samples} samples)`).join(', then ')}`);
      try {
        [workflow, workflow2] = await opts.workflow(aws, latencies, pendingKey);
      } catch (error) {
        // The other figures stand; run.ts reports the failure and exits non-zero.
        progress(`recovery: the workflow FAILED: ${(error as Error).message}`);
        workflow = { ms: null, skipped: `failed: ${(error as Error).message.split('\n')[0]}` };
        workflow2 = L2 === undefined ? undefined : workflow;
      }
    }

    let second: SecondLatencyFigures | undefined;
    if (L2 !== undefined && again) {
      const ms = median(again.times);
      const chain2 = CHAIN_ROUND_TRIPS * L2;
      second = {
        latencyMs: L2,
        samples: samples2,
        chainMs: chain2,
        libraryMs: round(ms, 1),
        libraryRoundTrips: again.chain,
        ratioToChain: round(ms / chain2),
        fixedCostMs: fixedCost(again.chain, { latencyMs: L2, ms }),
        ...(workflow2 ? workflowFigures(workflow2, L2) : {}),
      };
      progress(`recovery: at L = ${L2} ms the library takes ${second.libraryMs} ms (${second.ratioToChain} × chain, fixed cost ${second.fixedCostMs} ms)${workflow2 ? `, the workflow ${second.workflowMs ?? '-'} ms (${second.workflowRatioToChain ?? '-'} × chain)` : ''}`);
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
      fixedCostMs: fixedCost(chain, { latencyMs: L, ms: libraryMs }),
      ...(workflow
        ? {
            ...workflowFigures(workflow, L),
            ...(workflow.calls !== undefined ? { workflowCalls: workflow.calls } : {}),
            ...(workflow.tasks ? { workflowTasks: workflow.tasks } : {}),
          }
        : {}),
      ...(second
        ? {
            atSecondLatency: second,
            libraryLatencySlope: latencySlope({ latencyMs: L, ms: libraryMs }, { latencyMs: second.latencyMs, ms: second.libraryMs }),
            ...(workflow && second.workflowMs !== undefined
              ? {
                  workflowLatencySlope:
                    workflow.ms === null || second.workflowMs === null ? null : latencySlope({ latencyMs: L, ms: workflow.ms }, { latencyMs: second.latencyMs, ms: second.workflowMs }),
                }
              : {}),
          }
        : {}),
    };
  } finally {
    rmSync(work, { recursive: true, force: true });
    await aws.close();
  }
}
