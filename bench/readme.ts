/**
 * Writes the README's "Performance" section from a full run's results (bench/results.json), so
 * that the figures in the README are always a run's, never typed in:
 *   node --import tsx bench/readme.ts            replace the section in README.md
 *   node --import tsx bench/readme.ts --print    print it instead
 *   --results <file>                             another results file (default bench/results.json)
 * The section goes before "## How it behaves, and why" (or replaces an existing "## Performance"
 * section up to the next "## " heading). Where a figure misses its target, the text says so and
 * why, from what the same run measured.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { RecoveryFigures } from './recovery.js';
import type { RenewalFigures } from './renewal.js';
import { secondLatencyFigure, type Results, type Target } from './results.js';
import { readJson, repoRoot } from './measure.js';

/** A results file as bench/run.ts writes it. */
export type BenchResults = Results;

const HEADING = '## Performance';
const BEFORE = '## How it behaves, and why';

const round1 = (n: number) => Math.round(n * 10) / 10;
const percent = (share: number) => `${Math.round(share * 100)}%`;
const kb = (bytes: number) => `${Math.round(bytes / 1000)} kB`;
const op = (name: string) => name.split(':')[1] ?? name;

function target(r: BenchResults, figure: string): Target | undefined {
  return r.targets.find((t) => t.figure === figure);
}

function verdict(r: BenchResults, figure: string): string {
  const t = target(r, figure);
  if (!t || t.met === null) return '';
  return t.met ? 'met' : '**missed**';
}

function recoverySection(r: BenchResults, x: RecoveryFigures): string[] {
  const lines = [
    '### Recovery critical path',
    '',
    `Every call to the local endpoint waits L = ${x.latencyMs} ms; wrapping keys come from the endpoint's pool (RSA_2048 for every way below, as in the seed), so the emulator's RSA key generation is out. The endpoint runs in its own worker thread (\`startLocalEndpointInWorker\`, local/worker.ts: the same emulation as in process), so its request parsing, unwrapping and bookkeeping run on their own event loop and core, not on the event loop that times the library, as KMS's work runs on AWS's machines; it still answers only after the L ms, so its work stays on the critical path. The bench sets the latency and reads the call counters through the worker's controls. Each sample recovers a fresh PendingImport key by its ID; medians of ${x.samples}. The floor is the dependent chain: ${x.chainRoundTrips} round trips (DescribeKey → GetParametersForImport ∥ GetSecretValue → ImportKeyMaterial → Encrypt → Decrypt) = ${x.chainMs} ms. The workflow's time to recovery runs from its start to the end of its Verify task (the key proven usable by Encrypt and Decrypt), by the interpreter's own event times; its whole execution adds releasing the lease and the Report task.`,
    '',
    '| Way | Time | × chain | Calls | Target |',
    '|---|---|---|---|---|',
    `| library (\`recoverKey\`, in process) | ${x.libraryMs} ms | ${x.ratioToChain} | ${x.libraryCalls} | ≤ 1.2 × chain: ${verdict(r, 'recovery.ratioToChain')} |`,
  ];
  if (x.workflowMs !== undefined) {
    lines.push(
      x.workflowMs === null
        ? `| workflow | skipped: ${x.workflowSkipped} | | | |`
        : `| workflow (ASL in aws-local-stepfunctions, each task its real handler) | ${x.workflowMs} ms | ${x.workflowRatioToChain} | ${x.workflowCalls ?? ''} | ≤ 1.2 × chain: ${verdict(r, 'recovery.workflowRatioToChain')} |`,
    );
  }
  if (x.workflowToRecoveryMs !== undefined && x.workflowToRecoveryMs !== null) {
    lines.push(`| workflow, time to recovery (start → end of Verify) | ${x.workflowToRecoveryMs} ms | ${x.workflowToRecoveryRatioToChain} | | ≤ 1.2 × chain: ${verdict(r, 'recovery.workflowToRecoveryRatioToChain')} |`);
  }
  lines.push(
    `| \`kms-reimport recover\`, whole process${x.cliRebuilds > 0 ? ` (${x.cliRebuilds} sample(s) left out: the CLI rebuilt its bundle first, a source having changed during the run)` : ''} | ${x.cliProcessMs} ms | ${x.cliRatioToChain} | | |`,
  );
  lines.push(
    x.seedScriptMs === null
      ? `| the seed's script | skipped: ${x.seedSkipped} | | | |`
      : `| the seed's script (\`bench/seed-recover.sh\`: AWS CLI get-parameters-for-import, openssl OAEP wrap, import-key-material) | ${x.seedScriptMs} ms | ${Math.round((x.seedScriptMs / x.chainMs) * 100) / 100} | 2 | |`,
  );
  lines.push('');
  if (x.ratioToSeedScript !== null) {
    lines.push(
      `Against the seed's way, same endpoint, same latency, same run: the library takes ${x.ratioToSeedScript} × the script's time and \`kms-reimport recover\` as a whole process ${x.cliRatioToSeedScript} ×, while also inspecting the key first and proving it afterwards (Encrypt/Decrypt), which the script does not.${x.awsCliStartMs !== undefined ? ` The script starts the AWS CLI twice, and one start alone (\`aws --version\`) takes ${x.awsCliStartMs} ms here (${x.awsCli ?? 'AWS CLI'}).` : ''}`,
    );
    lines.push('');
  }
  lines.push(...fixedCostSection(r, x));
  lines.push(`The library's calls, as the round trips it made one after another: ${x.libraryCallSequence} (${x.libraryRoundTrips} round trips; the chain has ${x.chainRoundTrips}). With no added latency the same recovery takes ${x.libraryNoLatencyMs} ms here.`, '');
  const why: string[] = [];
  if (target(r, 'recovery.ratioToChain')?.met === false) {
    const latencyPart = x.libraryRoundTrips * x.latencyMs;
    why.push(
      x.libraryRoundTrips > x.chainRoundTrips
        ? `The library makes ${x.libraryRoundTrips} dependent round trips where the chain needs ${x.chainRoundTrips}.`
        : `The library makes the chain's ${x.libraryRoundTrips} round trips, no more.`,
      `Of its ${x.libraryMs} ms, those round trips' latency is ${latencyPart} ms (${x.libraryRoundTrips} × ${x.latencyMs}); the same recovery with no added latency takes ${x.libraryNoLatencyMs} ms here (the SDK, the wrapping, and the endpoint's emulation of KMS and Secrets Manager, on ${r.machine.cpus} cores shared by both and by whatever else ran).` +
        (x.libraryMs - latencyPart - x.libraryNoLatencyMs > 5
          ? ` The remaining ${Math.round(x.libraryMs - latencyPart - x.libraryNoLatencyMs)} ms is in neither figure: the endpoint's delayed answers and the client's callbacks waiting their turn on a shared machine are the likely cause; the bench does not separate it further.`
          : '') +
        ' Against AWS, whose latency includes its own work, only the client\'s part of the rest remains.',
    );
  }
  if (target(r, 'recovery.workflowRatioToChain')?.met === false && x.workflowMs && x.workflowTasks) {
    const tasks = Object.entries(x.workflowTasks)
      .map(([state, t]) => `${state}${t.runs > 1 ? ` (run ${t.runs} times)` : ''}: ${t.calls} call(s), ${t.ms} ms`)
      .join('; ');
    why.push(
      `The workflow makes ${x.workflowCalls} calls per recovery against the library's ${x.libraryCalls}, each task in its own handler with nothing shared but the state's input: ${tasks}. The rest of its ${x.workflowMs} ms is the per-key lease (local DynamoDB, no latency here) and the interpreter. Real Step Functions adds state transitions and Lambda invocations, which this figure leaves out.`,
    );
  }
  if (why.length > 0) lines.push(`Where the target is missed: ${why.join(' ')}`, '');
  return lines;
}

/** The library and the workflow at both latencies: time, × chain, and the fixed cost (ms − round trips × L). */
function fixedCostSection(r: BenchResults, x: RecoveryFigures): string[] {
  const s = x.atSecondLatency;
  if (!s) return [];
  const cell = (ms: number | null | undefined, ratio: number | null | undefined, fixed: number | null | undefined, verdictOf?: string) =>
    ms === undefined || ms === null ? '-' : `${ms} ms (${ratio} × chain${verdictOf && verdict(r, verdictOf) ? `, ${verdict(r, verdictOf)}` : ''}); fixed ${fixed} ms`;
  const at2 = (figure: string) => secondLatencyFigure(figure, s.latencyMs);
  const lines = [
    `The same recoveries at a second latency, L = ${s.latencyMs} ms (chain ${s.chainMs} ms, medians of ${s.samples}), and the fixed cost at each: the time minus round trips × L (the library's own ${x.libraryRoundTrips} round trips; the workflow's tasks make the chain's ${x.chainRoundTrips}).`,
    '',
    `| Way | L = ${x.latencyMs} ms | L = ${s.latencyMs} ms | ms per ms of L |`,
    '|---|---|---|---|',
    `| library | ${cell(x.libraryMs, x.ratioToChain, x.fixedCostMs, 'recovery.ratioToChain')} | ${cell(s.libraryMs, s.ratioToChain, s.fixedCostMs, at2('recovery.ratioToChain'))} | ${x.libraryLatencySlope ?? '-'} |`,
  ];
  if (x.workflowMs !== undefined) {
    lines.push(
      `| workflow, whole execution | ${cell(x.workflowMs, x.workflowRatioToChain, x.workflowFixedCostMs, 'recovery.workflowRatioToChain')} | ${cell(s.workflowMs, s.workflowRatioToChain, s.workflowFixedCostMs, at2('recovery.workflowRatioToChain'))} | ${x.workflowLatencySlope ?? '-'} |`,
      `| workflow, time to recovery | ${cell(x.workflowToRecoveryMs, x.workflowToRecoveryRatioToChain, x.workflowToRecoveryFixedCostMs, 'recovery.workflowToRecoveryRatioToChain')} | ${cell(s.workflowToRecoveryMs, s.workflowToRecoveryRatioToChain, s.workflowToRecoveryFixedCostMs, at2('recovery.workflowToRecoveryRatioToChain'))} | |`,
    );
  }
  lines.push(
    '',
    `The fixed cost (the SDK's CPU per call, the thread wake-ups for each answer, and in the workflow the handlers' middy/Powertools work and the interpreter) is ${x.fixedCostMs} ms for the library at L = ${x.latencyMs} ms and ${s.fixedCostMs} ms at L = ${s.latencyMs} ms, where the chain grew by ${s.chainMs - x.chainMs} ms: ${s.fixedCostMs / s.chainMs < x.fixedCostMs / x.chainMs ? `its share of the chain falls from ${percent(x.fixedCostMs / x.chainMs)} to ${percent(s.fixedCostMs / s.chainMs)}` : `its share of the chain did not fall in this run (${percent(x.fixedCostMs / x.chainMs)}, then ${percent(s.fixedCostMs / s.chainMs)})`}, against the 20% that 1.2 × chain leaves (${round1(0.2 * x.chainMs)} ms at L = ${x.latencyMs} ms, ${round1(0.2 * s.chainMs)} ms at L = ${s.latencyMs} ms).`,
    '',
  );
  return lines;
}

function sweepSection(r: BenchResults, x: NonNullable<BenchResults['sweep']>): string[] {
  const lines = [
    '### Sweep at scale',
    '',
    `Accounts of ${x.sizes.map((s) => s.keys.toLocaleString('en-US')).join(' / ')} keys, ${Math.round(r.settings.managedShare * 100)}% managed (healthy 3 : expiring 1 : PendingImport 1, each with its escrow secret; the rest unmanaged EXTERNAL and AWS_KMS keys), built in seconds by copying real keys in the endpoint's state (${x.builder}). The endpoint enforces KMS's default request quotas (controls preset \`kms-defaults\`). The sweep (\`sweepManagedKeys\`, default settings) runs as its own process, so its peak RSS is its own. The quota-bound minimum: for each quota bucket, the calls the endpoint answered ÷ its rate; the largest is the least time any sweep making those calls could take.`,
    '',
    '| Keys | Managed | Time | s per 1k keys | Quota-bound minimum | × minimum | Missed | Misclassified | Throttled | Peak RSS |',
    '|---|---|---|---|---|---|---|---|---|---|',
    ...x.sizes.map(
      (s) =>
        `| ${s.keys.toLocaleString('en-US')} | ${s.managed.toLocaleString('en-US')} | ${s.seconds} s | ${s.secondsPerThousandKeys} | ${s.quotaMinimumSeconds ?? '-'} s (${s.quotaBoundBy ? op(s.quotaBoundBy) : 'no quota'}) | ${s.ratioToQuotaMinimum ?? '-'} | ${s.missed} | ${s.misclassified} | ${s.throttled} | ${s.peakRssMiB} MiB |`,
    ),
    '',
    `Calls per managed key (${x.keys.toLocaleString('en-US')} keys): ${Object.entries(x.callsPerManagedKey)
      .map(([o, n]) => `${op(o)} ${n}`)
      .join(', ')}.`,
    '',
  ];
  const why: string[] = [];
  if (target(r, 'sweep.keys')?.met === false) why.push(`The largest account measured is ${x.keys.toLocaleString('en-US')} keys, not 50,000 (the settings above say which sizes this run used).`);
  if (target(r, 'sweep.ratioToQuotaMinimum')?.met === false) {
    why.push(
      `At ${x.ratioToQuotaMinimum} × the quota-bound minimum the sweep is bound by its own pace, not by the quotas the endpoint enforces: the most limited bucket it uses (${x.quotaBoundBy ? op(x.quotaBoundBy) : '?'}) allows the whole account in ${x.quotaMinimumSeconds} s, while the sweep makes ${Object.values(x.callsPerManagedKey).reduce((a, b) => a + b, 0).toFixed(2)} calls per managed key, ${x.concurrency ? `${x.concurrency} keys at a time` : 'a bounded number of keys at a time'}, against an endpoint that shares this machine's ${r.machine.cpus} cores with it (${Math.round((x.seconds * 1_000_000) / Math.max(1, Object.values(x.callsPerManagedKey).reduce((a, b) => a + b, 0) * x.managed)) / 1000} ms of wall time per call).`,
    );
  }
  if (x.unquotedOperations.length > 0) {
    lines.push(
      `The minimum counts only the quotas the endpoint enforces; it enforces none for ${x.unquotedOperations.map(op).join(', ')}.` +
        (x.unquotedOperations.includes('kms:ListKeyRotations')
          ? ` KMS publishes 100/s for ListKeyRotations (KMS-FACTS): with the ${x.callsPerManagedKey['kms:ListKeyRotations']} call(s) per managed key made here, an account of ${x.managed.toLocaleString('en-US')} managed keys needs at least ${Math.round(((x.callsPerManagedKey['kms:ListKeyRotations'] ?? 0) * x.managed) / 100)} s of it in AWS.`
          : ''),
      '',
    );
  }
  const quotaBound = x.sizes.filter((s) => s.ratioToQuotaMinimum !== null && s.ratioToQuotaMinimum <= 1.2);
  if (quotaBound.length > 0) {
    lines.push(
      `At ${quotaBound.map((s) => s.keys.toLocaleString('en-US')).join(' and ')} keys the sweep runs at its quota-bound minimum (${[...new Set(quotaBound.map((s) => op(s.quotaBoundBy ?? '?')))].join(', ')}): its time there is the quota's, linear in managed keys.`,
      '',
    );
  }
  if (x.linearity !== null && x.linearity > 1.3 && (x.ratioToQuotaMinimum ?? Infinity) > 1.2) {
    why.push(`Time is not linear in keys: a thousand keys cost ${x.linearity} × as much at ${x.keys.toLocaleString('en-US')} keys as at ${x.sizes[0]!.keys.toLocaleString('en-US')}.`);
  }
  if (x.missed > 0) {
    why.push(
      `${x.missed} managed key(s) were not classified (${Object.entries(x.missedBy)
        .map(([name, n]) => (name === 'absent' ? `${n} absent from the report` : `${n} reported as ${name}`))
        .join(', ')})${x.throttled > 0 ? `, in a run the endpoint answered ${x.throttled} calls with ThrottlingException: the sweep's retries ran out for them, and the next sweep tries them again` : ''}.`,
    );
  }
  if (why.length > 0) lines.push(`Where a target is missed: ${why.join(' ')}`, '');
  return lines;
}

function renewalSection(r: BenchResults, x: RenewalFigures): string[] {
  const lines = [
    '### Fleet renewal at a quota',
    '',
    `${x.keys} managed keys whose material expires in 5 days, made through the API for each way on its own endpoint; the endpoint enforces KMS's default quotas with GetParametersForImport at ${x.quotaPerSecond}/s (burst 1). The least time the quota allows is N / quota = ${x.quotaMinimumSeconds} s. The paced ways run lib/fleet.ts \`runPacedFleet\` (the adaptive pace of lib/pace.ts) over the sweep's work items (the sweep before the clock starts), its adaptive pace starting at the quota (an operator who set \`KMS_REIMPORT_PARAMETERS_RATE\` to the account's quota) and at twice the quota (a quota lowered, or set wrong); the CLI sweep is \`kms-reimport sweep\` as it is, in process, its own sweep included in the time.`,
    '',
    '| Way | Time | × N/quota | Renewed | Failed | Throttled | GetParametersForImport calls |',
    '|---|---|---|---|---|---|---|',
    ...x.ways.map(
      (w) =>
        `| ${w.way}${w.intervalMs !== undefined ? ` (pause ${w.intervalMs} ms between keys)` : ''} | ${w.seconds} s | ${w.ratioToQuota} | ${w.renewed} | ${w.failed} | ${w.throttled} | ${w.parametersCalls} |`,
    ),
    '',
    `Target ≤ 1.1 × N/quota with no failed run: from the quota ${verdict(r, 'renewal.ratioToQuota')}${target(r, 'renewal.fromAbove.ratioToQuota') ? `, from twice the quota ${verdict(r, 'renewal.fromAbove.ratioToQuota')}` : ''}.`,
    '',
  ];
  const why: string[] = [];
  for (const w of x.ways) {
    const over = (w.seconds - w.quotaMinimumSeconds) / w.keys;
    if (w.intervalMs === undefined && w.ratioToQuota > 1.1) {
      why.push(
        `${w.way}: ${Math.round(over * 1000)} ms per key beyond the quota's ${Math.round(1000 / w.quotaPerSecond)} ms; the endpoint throttled ${w.throttled} call(s)` +
          (w.pace
            ? `, the pace slowed down ${w.pace.decreases} time(s) and ended at ${w.pace.endRate}/s (from ${w.startRate}/s), and the runs waited ${w.pace.waitedSeconds} s in all for their slots.`
            : '.'),
      );
    }
    if (w.failed > 0) why.push(`${w.way}: ${w.failed} run(s) did not end renewed.`);
  }
  const cli = x.ways.find((w) => w.intervalMs !== undefined);
  if (cli && cli.ratioToQuota > 1.1) {
    lines.push(
      `The CLI sweep renews one key at a time and pauses ${cli.intervalMs} ms after each, so each key costs the pause plus its own run (${Math.round(((cli.seconds - cli.quotaMinimumSeconds) / cli.keys) * 1000)} ms per key beyond the quota here).`,
      '',
    );
  }
  if (why.length > 0) lines.push(`Where the target is missed: ${why.join(' ')}`, '');
  return lines;
}

function cliSection(r: BenchResults, x: NonNullable<BenchResults['cli']>): string[] {
  const lines = [
    '### The command line',
    '',
    `\`bin/kms-reimport.js\` as a whole process (its prebuilt bundle made fresh first, as after an install), wall time from spawn to exit, median of ${x.samples}; peak RSS by ${r.settings.peakRss}.${x.rebuilds > 0 ? ` ${x.rebuilds} sample(s) were taken again because the CLI rebuilt its bundle first (a source file changed during the run).` : ''}`,
    '',
    '| Figure | Value | Target |',
    '|---|---|---|',
    `| \`kms-reimport --help\` | ${x.helpSeconds} s (an empty \`node -e ''\`: ${x.emptyNodeSeconds} s) | ≤ 0.3 s: ${verdict(r, 'cli.helpSeconds')} |`,
    `| \`kms-reimport recover\` peak RSS | ${x.recoverPeakMiB ?? '-'} MiB | ≤ 70 MiB: ${verdict(r, 'cli.recoverPeakMiB')} |`,
    '',
  ];
  const why: string[] = [];
  if (target(r, 'cli.helpSeconds')?.met === false) why.push(`\`--help\` takes ${x.helpSeconds} s where an empty node start takes ${x.emptyNodeSeconds} s: the rest is loading the CLI's code (bin/kms-reimport.js as it is in this run).`);
  if (target(r, 'cli.recoverPeakMiB')?.met === false) why.push(`\`recover\` peaks at ${x.recoverPeakMiB} MiB (\`--help\`: ${x.helpPeakRssMiB} MiB).`);
  if (why.length > 0) lines.push(`Where a target is missed: ${why.join(' ')}`, '');
  return lines;
}

function bundlesSection(r: BenchResults, b: NonNullable<BenchResults['bundles']>, c: NonNullable<BenchResults['coldInit']>): string[] {
  const lines = [
    '### Lambda bundles and cold start',
    '',
    `\`node scripts/build.mjs\` (esbuild, minified, external source maps, the AWS SDK bundled, the Lambda credentials module in place of the SDK's default credential chain), the same build \`sam build\` runs through the Makefile. Net cold init: the median time (of ${c.samples}) for a fresh \`node\` to import the bundle with exactly the environment the template gives its function, minus the median of an empty \`node -e ''\` in the same run (${c.emptyNodeMs} ms); with \`NODE_OPTIONS=--enable-source-maps\` as the template sets it (as deployed), and without.`,
    '',
    '| Function | Bundle | With source map | Net init (as deployed) | Net init without source maps |',
    '|---|---|---|---|---|',
    ...b.functions.map((f) => `| ${f.name} | ${kb(f.bytes)} | ${kb(f.bytesWithMap)} | ${f.netInitMs} ms | ${f.netInitNoSourceMapsMs} ms |`),
    '',
    `Largest bundle ${kb(b.maxBytes)} (target ≤ 400 kB: ${verdict(r, 'bundles.maxBytes')}); largest net init ${c.maxNetMs} ms (target ≤ 100 ms: ${verdict(r, 'coldInit.maxNetMs')}).`,
    '',
  ];
  if (target(r, 'bundles.maxBytes')?.met === false) {
    const over = b.functions.filter((f) => f.bytes > 400_000).map((f) => `${f.name} (${kb(f.bytes)})`);
    lines.push(
      `Where the target is missed: ${over.join(', ')} exceed 400 kB. Each bundle carries the AWS SDK it uses (bundled on purpose: scripts/build.mjs says why); their largest parts: ${b.functions
        .filter((f) => f.bytes > 400_000)
        .map((f) => `${f.name}: ${f.largestParts.map((p) => `${p.part} ${kb(p.bytes)}`).join(', ')}`)
        .join('; ')}.`,
      '',
    );
  }
  if (target(r, 'coldInit.maxNetMs')?.met === false) {
    lines.push(`Where the target is missed: the slowest bundle needs ${c.maxNetMs} ms to load (${c.maxNetNoSourceMapsMs} ms at most without source maps), on a machine whose empty node start is ${c.emptyNodeMs} ms.`, '');
  }
  return lines;
}

export function performanceSection(r: BenchResults): string {
  const s = r.settings;
  const lines = [
    HEADING,
    '',
    `Figures from one full \`npm run bench\` run (${r.generatedAt.slice(0, 10)}, ${r.seconds} s) on ${r.machine.cpus} × ${r.machine.model}, ${Math.round(r.machine.memoryMiB / 1024)} GiB, node ${r.node} (1-minute load average ${r.machine.loadAverageAtStart} at the start, ${r.loadAverageAtEnd} at the end: other work shared the machine), against the project's local endpoint on the same machine; the raw figures are in [bench/results.json](bench/results.json), and this section is generated from it (\`node --import tsx bench/readme.ts\`). The bench prints figures and never asserts them; \`npm run bench -- --quick\` (under 2 minutes, run by CI) does the same at a small scale. Settings: per-call latency ${s.latencyMs} ms${s.secondLatencyMs !== undefined ? ` (the recovery also at ${s.secondLatencyMs} ms, ${s.recoverySamplesAtSecondLatency ?? s.recoverySamples} samples)` : ''}, ${s.recoverySamples} recovery samples, sweep sizes ${s.sweepKeys.map((k) => k.toLocaleString('en-US')).join(' / ')}, ${s.renewalKeys} keys renewed at ${s.renewalQuotaPerSecond}/s.`,
    '',
  ];
  if (r.recovery) lines.push(...recoverySection(r, r.recovery));
  if (r.sweep) lines.push(...sweepSection(r, r.sweep));
  if (r.renewal) lines.push(...renewalSection(r, r.renewal));
  if (r.cli) lines.push(...cliSection(r, r.cli));
  if (r.bundles && r.coldInit) lines.push(...bundlesSection(r, r.bundles, r.coldInit));
  lines.push('### Targets (issue 10)', '', '| Figure | Value | Target | |', '|---|---|---|---|');
  for (const t of r.targets) lines.push(`| \`${t.figure}\` | ${t.value ?? '-'} | ${t.target} | ${t.met === null ? '' : t.met ? 'met' : '**missed**'} |`);
  lines.push('');
  return lines.join('\n');
}

/** README text with the section replaced (or inserted before BEFORE). */
export function withSection(readme: string, section: string): string {
  const start = readme.indexOf(`\n${HEADING}\n`);
  if (start >= 0) {
    const next = readme.indexOf('\n## ', start + 1 + HEADING.length);
    return `${readme.slice(0, start + 1)}${section}${next >= 0 ? `\n${readme.slice(next + 1)}` : ''}`;
  }
  const at = readme.indexOf(`\n${BEFORE}`);
  if (at < 0) throw new Error(`README.md has no "${BEFORE}" heading to put the Performance section before`);
  return `${readme.slice(0, at + 1)}${section}\n${readme.slice(at + 1)}`;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const at = process.argv.indexOf('--results');
  const resultsPath = at >= 0 && process.argv[at + 1] ? resolve(process.argv[at + 1]!) : resolve(repoRoot, 'bench', 'results.json');
  const results = readJson<BenchResults>(resultsPath);
  if (Object.keys(results.errors ?? {}).length > 0) throw new Error(`${resultsPath} is from a run where ${Object.keys(results.errors).join(', ')} failed; run the bench again`);
  if (results.settings.quick) throw new Error(`${resultsPath} is from a --quick run; the README takes a full run (npm run bench)`);
  const section = performanceSection(results);
  if (process.argv.includes('--print')) console.log(section);
  else {
    const path = resolve(repoRoot, 'README.md');
    writeFileSync(path, withSection(readFileSync(path, 'utf8'), section));
    console.log(`README.md: "${HEADING}" written from bench/results.json (${results.generatedAt})`);
  }
}
