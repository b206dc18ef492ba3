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

  test('a figure the run could not measure is neither met nor missed', () => {
    const targets = targetsOf({ ...base, settings, cli: { samples: 5, rebuilds: 0, helpSeconds: 0.2, helpPeakRssMiB: 40, emptyNodeSeconds: 0.05, recoverPeakMiB: null } });
    assert.deepEqual(targets.find((t) => t.figure === 'cli.recoverPeakMiB'), { figure: 'cli.recoverPeakMiB', value: null, target: '≤ 70 MiB', met: null });
  });
});
