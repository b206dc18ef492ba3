/**
 * The command line follows the AWS CLI's habits, checked on the real binary against the local
 * endpoint: --help with examples on every command; a key as the argument or --key-id; --profile,
 * --region, --endpoint-url and the AWS_ENDPOINT_URL* variables; --output json|table or --json, the
 * JSON matching schema/*.schema.json; progress on stderr while stdout holds only the result; exit
 * codes 0 done, 1 failed, 2 bad usage, 3 nothing to do; one line, not the SDK's warning block, on a
 * Node older than the SDK will support.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeKeyCommand } from '@aws-sdk/client-kms';
import type { Outcome } from '../../lib/types.js';
import type { SweepEntry } from '../../lib/sweep.js';
import { onboardKey, startLocalAws, type LocalAws } from '../support/local-aws.js';
import { runCli, validateOutput, type CliRun } from '../support/cli.js';

let aws: LocalAws;
let home: string;
before(async () => {
  aws = await startLocalAws();
  home = mkdtempSync(join(tmpdir(), 'kms-reimport-cli-home-'));
});
after(async () => {
  rmSync(home, { recursive: true, force: true });
  await aws.closeAfterLeakCheck();
});

/** The CLI against the local endpoint (AWS_ENDPOINT_URL), no pacing between GetParametersForImport calls. */
const cli = async (args: string[], env: Record<string, string | undefined> = {}): Promise<CliRun> => {
  const out = await runCli(args, { AWS_ENDPOINT_URL: aws.endpoint.url, KMS_REIMPORT_PARAMETERS_INTERVAL_MS: '0', ...env });
  aws.logLines.push(out.stdout, out.stderr);
  return out;
};
const keyState = async (keyId: string) => (await aws.kms.send(new DescribeKeyCommand({ KeyId: keyId }))).KeyMetadata!.KeyState;
const NODE_MAJOR = Number(process.versions.node.split('.')[0]);

describe('help and bad usage', () => {
  const COMMANDS = ['recover', 'renew', 'plan', 'rotate', 'status', 'sweep', 'local'];

  test('every command has --help with an example of itself and the exit codes; exit 0', async () => {
    const top = await cli(['--help']);
    assert.equal(top.code, 0, top.stderr);
    for (const command of COMMANDS) assert.match(top.stdout, new RegExp(`^\\s+${command}\\b`, 'm'), `${command} missing from --help`);
    // Every command the program lists (also those added later) shows an example of itself.
    const listed = [...top.stdout.slice(top.stdout.indexOf('Commands:')).matchAll(/^  ([a-z]+)\b/gm)].map((m) => m[1]!).filter((c) => c !== 'help');
    assert.ok(listed.length >= COMMANDS.length, top.stdout);
    // Each command's --help once (a process each): the listed ones and the ones named above.
    for (const command of new Set([...listed, ...COMMANDS])) {
      const help = await cli([command, '--help']);
      assert.equal(help.code, 0, `${command} --help: ${help.stderr}`);
      assert.match(help.stdout, new RegExp(`^Examples:\\n(?:.*\\n)*?\\s+(?:\\$ )?kms-reimport ${command}\\b`, 'm'), `${command} --help has no example of itself`);
      if (!COMMANDS.includes(command)) continue;
      assert.match(help.stdout, /^Examples:$/m, `${command} --help has no example`);
      assert.match(help.stdout, new RegExp(`^  \\$ kms-reimport ${command}\\b`, 'm'), `${command} --help has no example of itself`);
      assert.match(help.stdout, /Exit codes: 0 done, 1 failed, 2 bad usage, 3 nothing to do/);
      if (command !== 'local') {
        for (const flag of ['--region', '--profile', '--endpoint-url', '--output <format>', '--json']) assert.ok(help.stdout.includes(flag), `${command} lacks ${flag}`);
      }
    }
  });

  test('bad usage exits 2 with a line that says what is wrong, no stack trace, nothing changed', async () => {
    const key = await onboardKey(aws, 'SYMMETRIC_DEFAULT', { lifetimeSeconds: 60 });
    aws.endpoint.clock.advance(61);
    aws.endpoint.controls.resetCounters();
    const cases: Array<[string[], RegExp]> = [
      [['recover', key.keyId, '--no-such-flag'], /unknown option '--no-such-flag'/],
      [['recover'], /which key\? Give it as the argument or with --key-id/],
      [['recover', key.keyId, '--key-id', 'alias/other'], /the key is named twice/],
      [['status', '--output', 'yaml'], /argument 'yaml' is invalid\. Allowed choices are json, table/],
      [['sweep', '--interval-ms', '-1'], /expected a whole number of milliseconds/],
      [['rotate', key.keyId], /rotate needs the per-key lease table/],
      [['rotate', key.keyId, '--via-stack', 'kms-reimport', '--mode', 'alias-swap', '--rotation-id', 'r1'], /--mode, --rotation-id apply to a local run only/],
      [['recover', key.keyId, '--via-stack', 'kms-reimport', '--lease-table', 'leases'], /--lease-table apply to a local run only/],
      [['recover', key.keyId, '--via-stack', 'kms-reimport', '--state-machine', 'arn:aws:states:us-east-1:111122223333:stateMachine:x'], /cannot be used with/],
      [['no-such-command'], /unknown command 'no-such-command'/],
      [[], /Usage: kms-reimport/],
      [['recover', key.keyId, '--region', 'cn-north-1'], /ConfigError: .*China/],
      [['recover', key.keyId, '--region', 'us east 1'], /argument 'us east 1' is invalid\. expected a Region name/],
      [['status', '--endpoint-url', 'not a url'], /argument 'not a url' is invalid\. expected an http\(s\) URL/],
    ];
    for (const [args, message] of cases) {
      const out = await cli(args);
      assert.equal(out.code, 2, `${args.join(' ')} → ${out.code}\n${out.stderr}`);
      assert.match(out.stderr, message, args.join(' '));
      assert.doesNotMatch(out.stderr, /\n\s+at /, `${args.join(' ')}: a stack trace`);
      assert.equal(out.stdout, '', `${args.join(' ')}: nothing on stdout`);
    }
    assert.equal(aws.calls('ImportKeyMaterial'), 0);
    assert.equal(await keyState(key.keyId), 'PendingImport', 'nothing changed');
  });
});

describe('one key: --key-id, --output json, progress on stderr, exit codes', () => {
  test('recover --key-id --output json: stdout is the outcome alone (schema), stderr the steps as they happened; exit 0', async () => {
    const key = await onboardKey(aws, 'SYMMETRIC_DEFAULT', { lifetimeSeconds: 60 });
    aws.endpoint.clock.advance(61);

    const out = await cli(['recover', '--key-id', key.keyId, '--output', 'json']);

    assert.equal(out.code, 0, out.stderr);
    const outcome = JSON.parse(out.stdout) as Outcome;
    validateOutput('outcome', outcome);
    assert.equal(outcome.status, 'recovered');
    const steps = ['key inspected', 'import parameters received', 'material imported', 'key verified'].map((s) => out.stderr.indexOf(`  ${s}`));
    assert.ok(steps.every((at) => at >= 0), `steps missing from stderr:\n${out.stderr}`);
    assert.deepEqual([...steps].sort((a, b) => a - b), steps, 'steps in the order they happened');
    assert.match(out.stderr, new RegExp(`key verified keyId=${key.keyId}`));
    assert.equal(await keyState(key.keyId), 'Enabled');
  });

  test('plan --json and --output json print the same shape; renew of a key far from ValidTo is skipped: exit 3 (nothing to do)', async () => {
    const key = await onboardKey(aws, 'SYMMETRIC_DEFAULT', { lifetimeSeconds: 200 * 86_400 });
    const plan = await cli(['plan', key.keyId, '--json']);
    assert.equal(plan.code, 0, plan.stderr);
    const planned = JSON.parse(plan.stdout) as Outcome;
    validateOutput('outcome', planned);
    assert.equal(planned.status, 'planned');

    const renew = await cli(['renew', key.keyId, '--output', 'json']);
    assert.equal(renew.code, 3, renew.stderr);
    const skipped = JSON.parse(renew.stdout) as Outcome;
    validateOutput('outcome', skipped);
    assert.equal(skipped.status, 'skipped');
    assert.equal(skipped.errorName, undefined);

    const table = await cli(['renew', key.keyId]);
    assert.equal(table.code, 3);
    assert.match(table.stdout, /^SKIPPED/m);
  });

  test('rotate --no-lease --json and plan --action rotate --json match the outcome schema', async () => {
    const key = await onboardKey(aws, 'SYMMETRIC_DEFAULT', { lifetimeSeconds: 200 * 86_400 });
    const plan = await cli(['plan', key.keyId, '--action', 'rotate', '--json']);
    assert.equal(plan.code, 0, plan.stderr);
    validateOutput('outcome', JSON.parse(plan.stdout));
    const rotated = await cli(['rotate', '--key-id', key.keyId, '--no-lease', '--json']);
    assert.equal(rotated.code, 0, rotated.stderr);
    const outcome = JSON.parse(rotated.stdout) as Outcome;
    validateOutput('outcome', outcome);
    assert.equal(outcome.status, 'rotated');
    assert.equal(outcome.rotation?.mode, 'in-place');
  });

  test('the service-specific AWS_ENDPOINT_URL_KMS and AWS_ENDPOINT_URL_SECRETS_MANAGER are honoured', async () => {
    const key = await onboardKey(aws, 'SYMMETRIC_DEFAULT', { lifetimeSeconds: 60 });
    aws.endpoint.clock.advance(61);
    const out = await cli(['recover', key.keyId, '--json'], {
      AWS_ENDPOINT_URL: 'http://127.0.0.1:9',
      AWS_ENDPOINT_URL_KMS: aws.endpoint.url,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: aws.endpoint.url,
    });
    assert.equal(out.code, 0, out.stderr);
    assert.equal((JSON.parse(out.stdout) as Outcome).status, 'recovered');
  });

  test(NODE_MAJOR < 22 ? 'on this Node (older than the SDK will support): one line on stderr, not the SDK\'s warning block' : 'on this Node: no Node version line', async () => {
    const out = await cli(['plan', 'alias/none', '--json']);
    assert.doesNotMatch(out.stderr, /NodeVersionSupportWarning|trace-warnings/);
    const lines = out.stderr.split('\n').filter((l) => /upgrade Node/.test(l));
    assert.equal(lines.length, NODE_MAJOR < 22 ? 1 : 0, out.stderr);
    // At the start: the first line of the command's own (a stale bundle's rebuild may announce itself before it).
    const own = out.stderr.split('\n').filter((l) => !l.startsWith('kms-reimport: building the command line'));
    if (NODE_MAJOR < 22) assert.match(own[0]!, new RegExp(`^kms-reimport: Node ${process.version} .*need Node 22 or newer`));
    const silenced = await cli(['plan', 'alias/none'], { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' });
    assert.doesNotMatch(silenced.stderr, /upgrade Node|NodeVersionSupportWarning/);
  });
});

describe('the fleet: status and sweep', () => {
  test('status --output json matches the schema; sweep --json recovers (schema, exit 0), then finds nothing to do (exit 3)', async () => {
    const fleet = await startLocalAws();
    try {
      const expired = await onboardKey(fleet, 'SYMMETRIC_DEFAULT', { lifetimeSeconds: 60 });
      await onboardKey(fleet, 'HMAC_256', { lifetimeSeconds: 200 * 86_400, tags: [{ TagKey: 'kms-reimport:rotate-every', TagValue: '90d' }] });
      fleet.endpoint.clock.advance(61);
      const env = { AWS_ENDPOINT_URL: fleet.endpoint.url, KMS_REIMPORT_PARAMETERS_INTERVAL_MS: '0' };

      const status = await runCli(['status', '--output', 'json'], env);
      assert.equal(status.code, 0, status.stderr);
      const entries = JSON.parse(status.stdout) as SweepEntry[];
      validateOutput('status', entries);
      assert.equal(entries.length, 2);
      assert.equal(entries.find((e) => e.keyId === expired.keyId)?.action, 'recover');

      const sweep = await runCli(['sweep', '--json', '--interval-ms', '0'], env);
      assert.equal(sweep.code, 0, sweep.stderr);
      const swept = JSON.parse(sweep.stdout) as { report: SweepEntry[]; outcomes: Outcome[] };
      validateOutput('sweep', swept);
      assert.deepEqual(swept.outcomes.map((o) => [o.keyId, o.status]), [[expired.keyId, 'recovered']]);
      assert.match(sweep.stderr, /1 key\(s\) to act on, outages first/);
      assert.match(sweep.stderr, new RegExp(`recover ${expired.keyId} \\(1/1\\)`));

      const again = await runCli(['sweep', '--json', '--interval-ms', '0'], env);
      assert.equal(again.code, 3, `nothing to do: ${again.stderr}`);
      const nothing = JSON.parse(again.stdout) as { report: SweepEntry[]; outcomes: Outcome[] };
      validateOutput('sweep', nothing);
      assert.deepEqual(nothing.outcomes, []);
      assert.match(again.stderr, /Nothing to recover or renew/);
      fleet.logLines.push(status.stdout, sweep.stdout, sweep.stderr, again.stdout);
    } finally {
      await fleet.closeAfterLeakCheck();
    }
  });

  test('--profile: credentials and Region from the named profile (no AWS_* credentials or Region in the environment)', async () => {
    mkdirSync(join(home, '.aws'), { recursive: true });
    writeFileSync(join(home, '.aws', 'config'), '[profile ops]\nregion = us-east-1\n\n[profile elsewhere]\nregion = us-east-1\n');
    // The local endpoint takes the account from a 12-digit access key id: `elsewhere` is another account.
    writeFileSync(join(home, '.aws', 'credentials'), '[ops]\naws_access_key_id = AKIDPROFILEOPS\naws_secret_access_key = ops\n\n[elsewhere]\naws_access_key_id = 444455556666\naws_secret_access_key = elsewhere\n');
    const env = { HOME: home, AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined, AWS_REGION: undefined };

    const ops = await cli(['status', '--profile', 'ops', '--json'], env);
    assert.equal(ops.code === 0 || ops.code === 1, true, ops.stderr);
    const mine = JSON.parse(ops.stdout) as SweepEntry[];
    validateOutput('status', mine);
    assert.ok(mine.length > 0, 'the profile reaches this account\'s managed keys');

    const other = await cli(['status', '--profile', 'elsewhere', '--json'], env);
    assert.equal(other.code, 0, other.stderr);
    assert.deepEqual(JSON.parse(other.stdout), [], 'another account (the profile\'s credentials) has no managed key');

    const none = await cli(['status', '--json'], env);
    assert.notEqual(none.code, 0, 'without the profile there are no credentials and no Region');
  });
});
