/**
 * README's runbook "A key went PendingImport: what now", run as written: the commands are read from
 * the section's fenced block (so a change to the README changes what is tested), their placeholders
 * filled, and each one run by the real binary against the deployed service played by the workflow
 * harness (the real state machine and handlers, the local endpoint, the stack's lease table in
 * DynamoDB), in order, on one key that went PendingImport.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DeleteImportedKeyMaterialCommand } from '@aws-sdk/client-kms';
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import type { SweepEntry } from '../../lib/sweep.js';
import { ACCOUNT, REGION, STACK, startWorkflowHarness, type WorkflowHarness } from '../support/workflow-harness.js';
import { startStackStandIns, type StackStandIns } from '../support/stack-stand-ins.js';
import { runCli, validateOutput } from '../support/cli.js';
import { LEASE_TABLE, workflowDynamo } from '../unit/asl-run.js';
import { repoRoot } from '../unit/template-load.js';

const SECTION = '## A key went PendingImport: what now';

/** The commands of the section's first ```sh block: every line that is not a comment. */
function runbookCommands(readme: string): string[] {
  const start = readme.indexOf(`\n${SECTION}\n`);
  assert.ok(start >= 0, `README.md has no "${SECTION}" section`);
  const next = readme.indexOf('\n## ', start + 1);
  const section = readme.slice(start, next < 0 ? undefined : next);
  const block = /```sh\n([\s\S]*?)```/.exec(section);
  assert.ok(block, `"${SECTION}" has no sh block`);
  return block[1]!
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
}

let harness: WorkflowHarness;
let stack: StackStandIns;
let dynamoEndpoint: string;
before(async () => {
  harness = await startWorkflowHarness();
  stack = await startStackStandIns(harness);
  dynamoEndpoint = (await workflowDynamo()).endpoint;
});
after(async () => {
  await stack?.close();
  await harness?.close();
});

test('the runbook block holds kms-reimport commands only, with known placeholders, covering status, plan, recover and recover --via-stack', () => {
  const commands = runbookCommands(readFileSync(join(repoRoot, 'README.md'), 'utf8'));
  for (const command of commands) {
    assert.match(command, /^npx kms-reimport [a-z]+\b/, command);
    for (const placeholder of command.match(/<[^>]+>/g) ?? []) assert.ok(['<key-id>', '<stack-name>', '<lease-table>'].includes(placeholder), `${command}: unknown ${placeholder}`);
  }
  const names = commands.map((c) => c.split(/\s+/).slice(2).filter((w) => w.startsWith('--') || /^[a-z]+$/.test(w)).join(' '));
  for (const expected of ['status', 'plan --key-id', 'recover --key-id --via-stack', 'recover --key-id --lease-table']) {
    assert.ok(names.some((n) => n.startsWith(expected)), `the runbook lacks "${expected}": ${names.join(' | ')}`);
  }
});

test('every command of the runbook, in order, on a key that went PendingImport: each exits 0 and does what the comment says', async () => {
  const commands = runbookCommands(readFileSync(join(repoRoot, 'README.md'), 'utf8'));
  const key = await harness.expiredKey();
  harness.resetCounters();
  const env = {
    AWS_ACCESS_KEY_ID: ACCOUNT,
    AWS_SECRET_ACCESS_KEY: 'on-call',
    AWS_REGION: REGION,
    AWS_ENDPOINT_URL: harness.endpoint.url,
    AWS_ENDPOINT_URL_DYNAMODB: dynamoEndpoint,
    KMS_REIMPORT_PARAMETERS_INTERVAL_MS: '0',
    ...stack.env,
  };
  let recoveries = 0;
  for (const line of commands) {
    const args = line
      .replace(/^npx kms-reimport /, '')
      .replaceAll('<key-id>', key.keyId)
      .replaceAll('<stack-name>', STACK)
      .replaceAll('<lease-table>', LEASE_TABLE)
      .split(/\s+/);
    const [command] = args;
    if (command === 'recover' && (await harness.keyState(key.keyId)) !== 'PendingImport') {
      // The runbook's recoveries are alternatives: before the next one, the material is deleted again.
      await harness.aws.kms.send(new DeleteImportedKeyMaterialCommand({ KeyId: key.keyId }));
      assert.equal(await harness.keyState(key.keyId), 'PendingImport');
    }
    const out = await runCli([...args, ...(args.includes('--via-stack') ? ['--poll-ms', '20'] : [])], env);
    harness.written.push(out.stdout, out.stderr);
    assert.equal(out.code, 0, `${line}\n${out.stdout}\n${out.stderr}`);
    if (command === 'status' && args.includes('--output')) {
      const entries = JSON.parse(out.stdout) as SweepEntry[];
      validateOutput('status', entries);
      const entry = entries.find((e) => e.keyId === key.keyId);
      assert.equal(entry?.keyState, 'Enabled', line);
      assert.equal(entry?.action, 'skip', `${line}: nothing left for the sweep`);
    } else if (command === 'status') {
      assert.match(out.stdout, new RegExp(`^${key.keyId}\\s+PendingImport\\s+.*\\brecover\\b`, 'm'), line);
    } else if (command === 'plan') {
      assert.match(out.stdout, /would recover/, line);
      assert.equal(await harness.keyState(key.keyId), 'PendingImport', `${line} changed nothing`);
    } else if (command === 'recover') {
      recoveries++;
      assert.match(out.stdout, /^RECOVERED/m, line);
      assert.equal(await harness.keyState(key.keyId), 'Enabled', line);
      if (args.includes('--via-stack')) assert.match(out.stderr, /^→ WrapAndImport$/m, `${line}: the workflow's steps followed`);
      else assert.doesNotMatch(out.stderr, /not serialised/, `${line}: ran under the lease`);
    } else {
      assert.fail(`no check for the runbook command: ${line}`);
    }
  }
  assert.equal(recoveries, 2);
  assert.equal(harness.imports(), 2, 'one import per recovery');
  const leases = await (await workflowDynamo()).client.send(new ScanCommand({ TableName: LEASE_TABLE }));
  assert.equal(leases.Count, 0, 'every lease released');
  await harness.assertNoLeaks();
});
