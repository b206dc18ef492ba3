/**
 * kms-reimport's benchmark: prints a table of figures and writes them to a results file. Figures,
 * never assertions: each row names its target (issue 10) and says whether this run met it.
 *
 *   npm run bench                      full run → bench/results.json (the README's figures)
 *   npm run bench -- --quick           small run (under 2 minutes; CI) → bench/results-quick.json (not committed)
 *   options: --keys 1000,10000,50000   sweep sizes     --latency 25   per-call latency, ms
 *            --latency2 50             the second latency the recovery is measured at (library and workflow)
 *            --samples 7               recovery samples --only recovery,sweep,renewal,cli,bundles
 *            --out <file>              results file
 *
 * Groups (one module each): recovery.ts (+ workflow.ts, timeline.ts, seed-recover.sh), sweep.ts
 * (+ sweep-child.ts, the account from test/support/fleet.ts), renewal.ts, cli.ts, bundles.ts;
 * measure.ts holds what they share. bench/readme.ts turns bench/results.json into
 * the README's "Performance" section.
 */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { benchBundles } from './bundles.js';
import { benchCli } from './cli.js';
import { describeMachine, hasGnuTime, loadAverage, progress, repoRoot, round } from './measure.js';
import { benchRecovery } from './recovery.js';
import { benchRenewal } from './renewal.js';
import { targetsOf, type Results, type Settings } from './results.js';
import { benchSweep, type SweepFigures } from './sweep.js';
import { benchWorkflow } from './workflow.js';

const GROUPS = ['recovery', 'sweep', 'renewal', 'cli', 'bundles'] as const;
type Group = (typeof GROUPS)[number];

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    keys: { type: 'string' },
    latency: { type: 'string' },
    latency2: { type: 'string' },
    samples: { type: 'string' },
    only: { type: 'string' },
    out: { type: 'string' },
  },
  strict: true,
});

function positiveIntegers(text: string, what: string): number[] {
  const list = text.split(',').map((s) => Number(s.trim()));
  if (list.length === 0 || list.some((n) => !Number.isInteger(n) || n <= 0)) throw new Error(`${what} must be positive whole numbers, comma-separated; got "${text}"`);
  return list;
}

const quick = args.quick === true;
const settings: Settings = {
  quick,
  latencyMs: args.latency ? positiveIntegers(args.latency, '--latency')[0]! : 25,
  recoverySamples: args.samples ? positiveIntegers(args.samples, '--samples')[0]! : quick ? 3 : 7,
  secondLatencyMs: args.latency2 ? positiveIntegers(args.latency2, '--latency2')[0]! : 50,
  recoverySamplesAtSecondLatency: quick ? 2 : args.samples ? positiveIntegers(args.samples, '--samples')[0]! : 7,
  sweepKeys: args.keys ? positiveIntegers(args.keys, '--keys') : quick ? [1000] : [1000, 10_000, 50_000],
  managedShare: 0.2,
  renewalKeys: quick ? 8 : 40,
  renewalQuotaPerSecond: 5,
  cliSamples: 5,
  bundleSamples: quick ? 3 : 7,
  peakRss: hasGnuTime ? 'GNU time -v' : 'process.resourceUsage().maxRSS (bench/report-rss.mjs)',
};
const only = new Set<Group>(args.only ? (args.only.split(',').map((s) => s.trim()) as Group[]) : GROUPS);
for (const g of only) if (!GROUPS.includes(g)) throw new Error(`--only takes ${GROUPS.join(', ')}; got "${g}"`);
const out = resolve(args.out ?? resolve(repoRoot, 'bench', quick ? 'results-quick.json' : 'results.json'));

const started = performance.now();
const machine = describeMachine();
const results: Results = { generatedAt: new Date().toISOString(), machine, node: process.version, settings, targets: [], seconds: 0, loadAverageAtEnd: 0, errors: {} };
progress(`kms-reimport bench (${quick ? 'quick' : 'full'}) on ${machine.cpus} × ${machine.model}, node ${process.version}, load average ${machine.loadAverageAtStart}`);

/** Runs one group; a group that fails is recorded and the others still run (the exit status is 1). */
async function group(name: Group, run: () => Promise<void>): Promise<void> {
  if (!only.has(name)) return;
  try {
    await run();
  } catch (error) {
    results.errors[name] = (error as Error).message;
    progress(`${name}: FAILED: ${(error as Error).stack ?? String(error)}`);
  }
}

await group('recovery', async () => {
  results.recovery = await benchRecovery({
    latencyMs: settings.latencyMs,
    samples: settings.recoverySamples,
    secondLatencyMs: settings.secondLatencyMs,
    secondSamples: settings.recoverySamplesAtSecondLatency,
    workflow: benchWorkflow,
  });
  if (results.recovery.workflowSkipped?.startsWith('failed')) results.errors.workflow = results.recovery.workflowSkipped;
  else if (results.recovery.atSecondLatency?.workflowSkipped?.startsWith('failed')) results.errors.workflow = results.recovery.atSecondLatency.workflowSkipped;
});
await group('sweep', async () => {
  const sizes: Array<SweepFigures & { builder: string }> = [];
  for (const keys of settings.sweepKeys) {
    sizes.push(await benchSweep(keys, settings.managedShare));
    progress(`sweep: ${keys} keys in ${sizes.at(-1)!.seconds} s`);
  }
  const largest = sizes.reduce((a, b) => (b.keys > a.keys ? b : a));
  const smallest = sizes.reduce((a, b) => (b.keys < a.keys ? b : a));
  results.sweep = { ...largest, sizes, linearity: sizes.length > 1 ? round(largest.secondsPerThousandKeys / smallest.secondsPerThousandKeys) : null };
});
await group('renewal', async () => {
  results.renewal = await benchRenewal(settings.renewalKeys, settings.renewalQuotaPerSecond, !quick);
});
await group('cli', async () => {
  results.cli = { ...(await benchCli(settings.cliSamples)), recoverPeakMiB: results.recovery?.cliPeakRssMiB ?? null };
});
await group('bundles', async () => {
  const { maxNetMs, maxNetNoSourceMapsMs, emptyNodeMs, ...bundles } = await benchBundles(settings.bundleSamples);
  results.bundles = bundles;
  results.coldInit = { maxNetMs, maxNetNoSourceMapsMs, emptyNodeMs, samples: bundles.samples };
});
results.targets = targetsOf(results);
results.seconds = round((performance.now() - started) / 1000, 1);
results.loadAverageAtEnd = loadAverage();
writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
printTable(results);
for (const [name, message] of Object.entries(results.errors)) console.log(`FAILED ${name}: ${message}`);
if (Object.keys(results.errors).length > 0) process.exitCode = 1;
console.log(`\nwritten: ${out} (${results.seconds} s; load average ${machine.loadAverageAtStart} at the start, ${results.loadAverageAtEnd} at the end)`);

function printTable(r: Results): void {
  const rows: string[][] = [['group', 'figure', 'value']];
  const add = (group: string, figure: string, value: unknown) => rows.push([group, figure, String(value)]);
  if (r.recovery) {
    const x = r.recovery;
    add('recovery', `latency per call (L) / chain (${x.chainRoundTrips} × L)`, `${x.latencyMs} ms / ${x.chainMs} ms`);
    add('recovery', `library recoverKey (median of ${x.samples}), calls`, `${x.libraryMs} ms (${x.ratioToChain} × chain), ${x.libraryCalls} calls, ${x.libraryRoundTrips} round trips; ${x.libraryNoLatencyMs} ms at L = 0`);
    add('recovery', '  its round trips', x.libraryCallSequence);
    add('recovery', '  fixed cost (ms − round trips × L)', `${x.fixedCostMs} ms`);
    if (x.workflowMs !== undefined) add('recovery', 'workflow (aws-local-stepfunctions, real handlers)', x.workflowMs === null ? `skipped: ${x.workflowSkipped}` : `${x.workflowMs} ms (${x.workflowRatioToChain} × chain), ${x.workflowCalls} calls; fixed cost ${x.workflowFixedCostMs} ms`);
    if (x.workflowToRecoveryMs != null) add('recovery', '  to recovery (start → end of Verify)', `${x.workflowToRecoveryMs} ms (${x.workflowToRecoveryRatioToChain} × chain); fixed cost ${x.workflowToRecoveryFixedCostMs} ms`);
    const s = x.atSecondLatency;
    if (s) {
      add('recovery', `at L = ${s.latencyMs} ms (chain ${s.chainMs} ms): library (median of ${s.samples})`, `${s.libraryMs} ms (${s.ratioToChain} × chain), ${s.libraryRoundTrips} round trips; fixed cost ${s.fixedCostMs} ms`);
      if (s.workflowMs !== undefined) add('recovery', `at L = ${s.latencyMs} ms: workflow, to recovery`, s.workflowMs === null ? `skipped: ${s.workflowSkipped}` : `${s.workflowMs} ms (${s.workflowRatioToChain} × chain; fixed cost ${s.workflowFixedCostMs} ms), ${s.workflowToRecoveryMs} ms (${s.workflowToRecoveryRatioToChain} × chain; fixed cost ${s.workflowToRecoveryFixedCostMs} ms)`);
      add('recovery', '  ms per ms of L (library, workflow)', `${x.libraryLatencySlope ?? '-'}, ${x.workflowLatencySlope ?? '-'}`);
    }
    add('recovery', 'kms-reimport recover, whole process', `${x.cliProcessMs} ms (${x.cliRatioToChain} × chain), peak ${x.cliPeakRssMiB} MiB`);
    add('recovery', "the seed's script (AWS CLI + openssl)", x.seedScriptMs === null ? `skipped: ${x.seedSkipped}` : `${x.seedScriptMs} ms`);
    add('recovery', 'library ÷ seed script, CLI ÷ seed script', `${x.ratioToSeedScript ?? '-'}, ${x.cliRatioToSeedScript ?? '-'}`);
  }
  if (r.sweep) {
    for (const s of r.sweep.sizes) {
      const calls = Object.entries(s.callsPerManagedKey)
        .map(([op, n]) => `${op.split(':')[1]} ${n}`)
        .join(', ');
      add('sweep', `${s.keys} keys, ${s.managed} managed`, `${s.seconds} s (${s.secondsPerThousandKeys} s/1k keys); minimum ${s.quotaMinimumSeconds ?? '-'} s (${s.quotaBoundBy ?? 'no quota'}) → ${s.ratioToQuotaMinimum ?? '-'} ×; missed ${s.missed}${s.missed > 0 ? ` (${Object.entries(s.missedBy).map(([n, c]) => `${n} ${c}`).join(', ')})` : ''}, misclassified ${s.misclassified}, throttled ${s.throttled}; peak ${s.peakRssMiB} MiB`);
      add('sweep', '  calls per managed key', calls);
    }
  }
  if (r.renewal) {
    for (const x of r.renewal.ways) {
      add('renewal', `${x.way}: ${x.keys} keys, GetParametersForImport ${x.quotaPerSecond}/s`, `${x.seconds} s vs ${x.quotaMinimumSeconds} s → ${x.ratioToQuota} ×; renewed ${x.renewed}, failed ${x.failed}, throttled ${x.throttled}`);
    }
  }
  if (r.cli) {
    add('cli', `--help (median of ${r.cli.samples}) / empty node`, `${r.cli.helpSeconds} s / ${r.cli.emptyNodeSeconds} s; recover peak ${r.cli.recoverPeakMiB ?? '-'} MiB${r.cli.rebuilds > 0 ? `; ${r.cli.rebuilds} sample(s) retaken (the CLI rebuilt its bundle)` : ''}`);
  }
  if (r.bundles && r.coldInit) {
    for (const b of r.bundles.functions) {
      add('bundles', b.name, `${(b.bytes / 1000).toFixed(0)} kB (${(b.bytesWithMap / 1000).toFixed(0)} kB with map); net init ${b.netInitMs} ms (${b.netInitNoSourceMapsMs} ms without --enable-source-maps)`);
    }
    add('bundles', 'empty node start (subtracted)', `${r.coldInit.emptyNodeMs} ms`);
  }
  const widths = [0, 1].map((i) => Math.max(...rows.map((row) => row[i]!.length)));
  console.log('');
  for (const row of rows) console.log(`${row[0]!.padEnd(widths[0]!)}  ${row[1]!.padEnd(widths[1]!)}  ${row[2]}`);
  console.log('\ntargets (issue 10):');
  const fw = Math.max(...r.targets.map((x) => x.figure.length));
  for (const x of r.targets) console.log(`  ${x.figure.padEnd(fw)}  ${String(x.value).padStart(10)}  ${x.target.padEnd(28)} ${x.met === null ? '' : x.met ? 'met' : 'MISSED'}`);
}
