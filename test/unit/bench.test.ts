/**
 * The benchmark's own arithmetic (bench/): the quota-bound minimum, the grouping of calls into
 * round trips, missed and misclassified keys, and the README section it writes. The figures
 * themselves are never asserted (they are the bench's output); what turns them into ratios and
 * text is.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { quotaMinimum, countMisses, type ChildEntry } from '../../bench/sweep.js';
import { describeRoundTrips, roundTrips, type TimedCall } from '../../bench/timeline.js';
import { performanceSection, withSection, type BenchResults } from '../../bench/readme.js';
import { targetsOf } from '../../bench/results.js';
import { fixedCost, latencySlope, type RecoveryFigures } from '../../bench/recovery.js';
import type { RenewalRun } from '../../bench/renewal.js';
import type { FleetKind } from '../support/fleet.js';

const counter = (calls: number, throttled = 0) => ({ calls, throttled });

describe('quota-bound minimum', () => {
  test('is the largest bucket: answered calls (throttled ones apart) ÷ rate', () => {
    const minimum = quotaMinimum(
      { 'kms:DescribeKey': counter(4000), 'kms:GetParametersForImport': counter(12, 2), 'tagging:GetResources': counter(99) },
      { 'kms:DescribeKey': { rate: 2000 }, 'kms:GetParametersForImport': { rate: 5 } },
    );
    assert.deepEqual(minimum, { seconds: 2, bucket: 'kms:DescribeKey' });
    const bound = quotaMinimum({ 'kms:GetParametersForImport': counter(30, 10) }, { 'kms:GetParametersForImport': { rate: 5 } });
    assert.deepEqual(bound, { seconds: 4, bucket: 'kms:GetParametersForImport' });
  });

  test('operations sharing a bucket add up; a bare operation name matches every service', () => {
    const minimum = quotaMinimum(
      { 'kms:Encrypt': counter(600), 'kms:Decrypt': counter(600), 'kms:DescribeKey': counter(10) },
      { 'kms:Encrypt': { rate: 100, shared: 'crypto' }, 'kms:Decrypt': { rate: 100, shared: 'crypto' }, DescribeKey: { rate: 1 } },
    );
    assert.deepEqual(minimum, { seconds: 12, bucket: 'crypto' });
  });

  test('is null when no operation called has a quota', () => {
    assert.equal(quotaMinimum({ 'tagging:GetResources': counter(3) }, { 'kms:DescribeKey': { rate: 2000 } }), null);
  });
});

describe('round trips', () => {
  const call = (operation: string, start: number, end: number): TimedCall => ({ operation, start, end });

  test('calls that overlap are one round trip; a call started after one of them ended is the next', () => {
    const calls = [
      call('DescribeKey', 0, 25),
      call('ListResourceTags', 1, 26),
      call('GetParametersForImport', 27, 52),
      call('GetSecretValue', 27.5, 50),
      call('ImportKeyMaterial', 53, 80),
      call('Encrypt', 81, 106),
      call('Decrypt', 107, 131),
    ];
    const groups = roundTrips(calls);
    assert.equal(groups.length, 5);
    assert.equal(describeRoundTrips(groups), 'DescribeKey ∥ ListResourceTags → GetParametersForImport ∥ GetSecretValue → ImportKeyMaterial → Encrypt → Decrypt');
  });

  test('calls one after another are as many round trips as calls; none is none', () => {
    assert.equal(roundTrips([call('A', 0, 1), call('B', 1, 2), call('C', 2, 3)]).length, 3);
    assert.deepEqual(roundTrips([]), []);
  });
});

describe('missed keys', () => {
  test('a managed key absent or in error is missed; another action than its kind calls for is misclassified', () => {
    const managedKinds = new Map<string, FleetKind>([
      ['k-healthy', 'healthy'],
      ['k-expiring', 'expiring'],
      ['k-pending', 'pending-import'],
      ['k-absent', 'healthy'],
      ['k-error', 'expiring'],
    ]);
    const fleet = { managedKinds };
    const entries: ChildEntry[] = [
      ['k-healthy', 'healthy', 'skip', 'ok'],
      ['k-expiring', 'expiring', 'skip', 'ok'],
      ['k-pending', 'pending-import', 'recover', 'ok'],
      ['k-error', '', 'error', '', 'KmsUnavailable'],
      ['unmanaged', 'not-managed', 'skip', ''],
    ];
    assert.deepEqual(countMisses(fleet, entries), { missed: 2, misclassified: 1, missedBy: { absent: 1, KmsUnavailable: 1 } });
  });
});

/** A run's recovery figures as the latest run gave them (L = 25 and 50 ms), changed by `over`. */
function recoveryFigures(over: Partial<RecoveryFigures> = {}): RecoveryFigures {
  return {
    latencyMs: 25,
    samples: 7,
    chainRoundTrips: 5,
    chainMs: 125,
    libraryMs: 152,
    libraryCalls: 9,
    libraryRoundTrips: 5,
    libraryCallSequence: 'DescribeKey ∥ ListResourceTags → GetParametersForImport ∥ GetSecretValue → ImportKeyMaterial → Encrypt → Decrypt',
    libraryNoLatencyMs: 17,
    libraryNoLatencyBusyMs: { client: 12, endpoint: 5 },
    libraryInProcessMs: 150,
    ratioToChain: 1.22,
    cliProcessMs: 600,
    cliRatioToChain: 4.8,
    cliPeakRssMiB: 60,
    cliRebuilds: 0,
    seedScriptMs: null,
    seedSkipped: 'no AWS CLI',
    ratioToSeedScript: null,
    cliRatioToSeedScript: null,
    workflowMs: 170,
    workflowRatioToChain: 1.36,
    workflowCalls: 11,
    workflowToRecoveryMs: 150,
    workflowToRecoveryRatioToChain: 1.2,
    fixedCostMs: 27,
    workflowFixedCostMs: 45,
    workflowToRecoveryFixedCostMs: 25,
    atSecondLatency: {
      latencyMs: 50,
      samples: 7,
      chainMs: 250,
      libraryMs: 278,
      libraryRoundTrips: 5,
      ratioToChain: 1.11,
      fixedCostMs: 28,
      workflowMs: 296,
      workflowRatioToChain: 1.18,
      workflowFixedCostMs: 46,
      workflowToRecoveryMs: 276,
      workflowToRecoveryRatioToChain: 1.1,
      workflowToRecoveryFixedCostMs: 26,
    },
    libraryLatencySlope: 5.04,
    workflowLatencySlope: 5.04,
    ...over,
  };
}

describe('fixed cost', () => {
  test('is the time less the round trips it made times L, and the slope between two latencies is the round trips L is paid on', () => {
    assert.equal(fixedCost(5, { latencyMs: 25, ms: 152 }), 27);
    assert.equal(fixedCost(5, { latencyMs: 50, ms: 278.04 }), 28);
    assert.equal(fixedCost(6, { latencyMs: 25, ms: 152 }), 2);
    // 5 round trips and 27 ms of fixed cost at both latencies: 5 ms per ms of L.
    assert.equal(latencySlope({ latencyMs: 25, ms: 152 }, { latencyMs: 50, ms: 277 }), 5);
    // A cost that grows with L shows as more round trips than were made.
    assert.equal(latencySlope({ latencyMs: 25, ms: 152 }, { latencyMs: 50, ms: 302 }), 6);
    assert.equal(latencySlope({ latencyMs: 25, ms: 152 }, { latencyMs: 25, ms: 160 }), null);
  });
});

describe('README section', () => {
  const results = (over: Partial<BenchResults> = {}): BenchResults => ({
    generatedAt: '2026-12-02T02:00:00.000Z',
    machine: { cpus: 2, model: 'Test CPU', memoryMiB: 4096, platform: 'linux x64', node: 'v20.0.0', loadAverageAtStart: 1 },
    node: 'v20.0.0',
    settings: { quick: false, latencyMs: 25, recoverySamples: 7, sweepKeys: [1000], managedShare: 0.2, renewalKeys: 60, renewalQuotaPerSecond: 5, cliSamples: 5, bundleSamples: 7, peakRss: 'GNU time -v' },
    cli: { samples: 5, rebuilds: 0, helpSeconds: 0.42, helpPeakRssMiB: 50, emptyNodeSeconds: 0.05, recoverPeakMiB: 60 },
    targets: [
      { figure: 'cli.helpSeconds', value: 0.42, target: '≤ 0.3 s', met: false },
      { figure: 'cli.recoverPeakMiB', value: 60, target: '≤ 70 MiB', met: true },
    ],
    seconds: 100,
    loadAverageAtEnd: 1,
    errors: {},
    ...over,
  });

  test('names a missed target and says why from the run, and a met one without excuse', () => {
    const section = performanceSection(results());
    assert.match(section, /^## Performance\n/);
    assert.match(section, /`kms-reimport --help` \| 0\.42 s .*\| ≤ 0\.3 s: \*\*missed\*\*/);
    assert.match(section, /peak RSS \| 60 MiB \| ≤ 70 MiB: met/);
    assert.match(section, /Where a target is missed: `--help` takes 0\.42 s where an empty node start takes 0\.05 s/);
    assert.doesNotMatch(section, /peaks at 60 MiB/);
  });

  test('recovery: the endpoint in its own worker thread, the second latency and the fixed cost at both, the workflow to recovery beside its whole execution', () => {
    const base = results();
    const r = { ...base, settings: { ...base.settings, secondLatencyMs: 50, recoverySamplesAtSecondLatency: 7 }, recovery: recoveryFigures() };
    r.targets = targetsOf(r);
    const section = performanceSection(r);
    assert.match(section, /Settings: per-call latency 25 ms \(the recovery also at 50 ms, 7 samples\), /);
    assert.match(section, /runs in its own worker thread \(`startLocalEndpointInWorker`, local\/worker\.ts/);
    assert.match(section, /\| workflow, time to recovery \(start → end of Verify\) \| 150 ms \| 1\.2 \| \| ≤ 1\.2 × chain: met \|/);
    assert.match(section, /\| Way \| L = 25 ms \| L = 50 ms \| ms per ms of L \|/);
    assert.match(section, /\| library \| 152 ms \(1\.22 × chain, \*\*missed\*\*\); fixed 27 ms \| 278 ms \(1\.11 × chain, met\); fixed 28 ms \| 5\.04 \|/);
    assert.match(section, /\| workflow, whole execution \| 170 ms \(1\.36 × chain, \*\*missed\*\*\); fixed 45 ms \| 296 ms \(1\.18 × chain, met\); fixed 46 ms \| 5\.04 \|/);
    assert.match(section, /\| workflow, time to recovery \| 150 ms \(1\.2 × chain, met\); fixed 25 ms \| 276 ms \(1\.1 × chain, met\); fixed 26 ms \| \|/);
    assert.match(section, /is 27 ms for the library at L = 25 ms and 28 ms at L = 50 ms, where the chain grew by 125 ms: its share of the chain falls from 22% to 11%, against the 20% that 1\.2 × chain leaves \(25 ms at L = 25 ms, 50 ms at L = 50 ms\)/);
    assert.match(section, /\| `recovery\.ratioToChainAt50` \| 1\.11 \| ≤ 1\.2 × chain \| met \|/);

    const grown = { ...base, recovery: recoveryFigures({ atSecondLatency: { ...recoveryFigures().atSecondLatency!, libraryMs: 320, fixedCostMs: 70 } }) };
    grown.targets = targetsOf(grown);
    assert.match(performanceSection(grown), /27 ms for the library at L = 25 ms and 70 ms at L = 50 ms, where the chain grew by 125 ms: its share of the chain did not fall in this run \(22%, then 28%\)/);

    // An older results file, measured at one latency only: no second table, and nothing undefined.
    const older = { ...base, recovery: recoveryFigures({ atSecondLatency: undefined, libraryLatencySlope: undefined, workflowLatencySlope: undefined }) };
    older.targets = targetsOf(older);
    const olderSection = performanceSection(older);
    assert.doesNotMatch(olderSection, /ms per ms of L/);
    assert.doesNotMatch(olderSection, /undefined|NaN/);
  });

  test('goes before "How it behaves, and why", and replaces itself on the next run without touching the rest', () => {
    const readme = '# kms-reimport\n\nintro\n\n## Deploying\n\ntext\n\n## How it behaves, and why\n\nmore\n';
    const once = withSection(readme, '## Performance\n\nfirst\n');
    assert.equal(once, '# kms-reimport\n\nintro\n\n## Deploying\n\ntext\n\n## Performance\n\nfirst\n\n## How it behaves, and why\n\nmore\n');
    const twice = withSection(once, '## Performance\n\nsecond\n');
    assert.equal(twice, once.replace('first', 'second'));
    assert.throws(() => withSection('# no anchor\n', '## Performance\n'), /How it behaves, and why/);
  });
});

describe('targets', () => {
  const base = { generatedAt: '', machine: { cpus: 2, model: 'x', memoryMiB: 1, platform: 'linux', node: 'v20', loadAverageAtStart: 0 }, node: 'v20', seconds: 1, loadAverageAtEnd: 0, errors: {}, targets: [] };
  const settings = { quick: false, latencyMs: 25, recoverySamples: 7, sweepKeys: [50_000], managedShare: 0.2, renewalKeys: 40, renewalQuotaPerSecond: 5, cliSamples: 5, bundleSamples: 7, peakRss: 'GNU time -v' };
  const way = (over: Partial<RenewalRun>): RenewalRun => ({ way: 'w', keys: 40, quotaPerSecond: 5, seconds: 8, quotaMinimumSeconds: 8, ratioToQuota: 1, renewed: 40, failed: 0, throttled: 0, parametersCalls: 40, ...over });

  test('each figure against its limit, inclusive; the way started above the quota judged apart; the CLI sweep a figure only', () => {
    const fromQuota = way({ startRate: 5, ratioToQuota: 1.1 });
    const fromAbove = way({ startRate: 10, ratioToQuota: 1.11, failed: 1 });
    const cliSweep = way({ intervalMs: 200, ratioToQuota: 2.5 });
    const targets = targetsOf({
      ...base,
      settings,
      cli: { samples: 5, rebuilds: 0, helpSeconds: 0.3, helpPeakRssMiB: 40, emptyNodeSeconds: 0.05, recoverPeakMiB: 70.1 },
      renewal: { ...fromQuota, ways: [fromQuota, fromAbove, cliSweep] },
    });
    const met = Object.fromEntries(targets.map((t) => [t.figure, t.met]));
    assert.deepEqual(met, {
      'renewal.ratioToQuota': true,
      'renewal.failed': true,
      'renewal.fromAbove.ratioToQuota': false,
      'renewal.fromAbove.failed': false,
      'renewal.cliSweep.ratioToQuota': null,
      'cli.helpSeconds': true,
      'cli.recoverPeakMiB': false,
    });
  });

  test('recovery: the L = 25 figures keep their targets; the second latency judged by the same 1.2 × chain; fixed costs and slopes are figures', () => {
    const targets = targetsOf({ ...base, settings: { ...settings, secondLatencyMs: 50, recoverySamplesAtSecondLatency: 7 }, recovery: recoveryFigures() });
    const byFigure = Object.fromEntries(targets.map((t) => [t.figure, t]));
    assert.deepEqual(
      Object.fromEntries(targets.filter((t) => t.figure.startsWith('recovery.')).map((t) => [t.figure, [t.value, t.met]])),
      {
        'recovery.ratioToChain': [1.22, false],
        'recovery.workflowRatioToChain': [1.36, false],
        'recovery.fixedCostMs': [27, null],
        'recovery.workflowFixedCostMs': [45, null],
        'recovery.workflowToRecoveryRatioToChain': [1.2, true],
        'recovery.ratioToChainAt50': [1.11, true],
        'recovery.fixedCostMsAt50': [28, null],
        'recovery.workflowRatioToChainAt50': [1.18, true],
        'recovery.workflowFixedCostMsAt50': [46, null],
        'recovery.workflowToRecoveryRatioToChainAt50': [1.1, true],
        'recovery.libraryLatencySlope': [5.04, null],
        'recovery.workflowLatencySlope': [5.04, null],
        'recovery.ratioToSeedScript': [null, null],
        'recovery.cliRatioToSeedScript': [null, null],
      },
    );
    assert.match(byFigure['recovery.fixedCostMs']!.target, /1\.2 × chain leaves 25 ms at L = 25/);
    assert.match(byFigure['recovery.fixedCostMsAt50']!.target, /1\.2 × chain leaves 50 ms at L = 50/);
    const failed = targetsOf({ ...base, settings, recovery: recoveryFigures({ atSecondLatency: { ...recoveryFigures().atSecondLatency!, workflowMs: null, workflowRatioToChain: null, workflowFixedCostMs: null } }) });
    assert.equal(failed.find((t) => t.figure === 'recovery.workflowRatioToChainAt50')?.met, null);
  });

  test('a figure the run could not measure is neither met nor missed', () => {
    const targets = targetsOf({ ...base, settings, cli: { samples: 5, rebuilds: 0, helpSeconds: 0.2, helpPeakRssMiB: 40, emptyNodeSeconds: 0.05, recoverPeakMiB: null } });
    assert.deepEqual(targets.find((t) => t.figure === 'cli.recoverPeakMiB'), { figure: 'cli.recoverPeakMiB', value: null, target: '≤ 70 MiB', met: null });
  });
});
