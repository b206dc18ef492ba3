/**
 * Every execution ends in Report with an outcome published, whatever its input: an array, a
 * string, a number, null, or an object that is no work item. Runs statemachine/recovery.asl.json
 * with aws-local-stepfunctions; Inspect and Report are the REAL steps (lib/workflow/steps.ts), the
 * KMS client is a mock that must never be called (a bad input is refused before any AWS call).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mockClient } from 'aws-sdk-client-mock';
import { KMSClient } from '@aws-sdk/client-kms';
import { DEFAULT_CONFIG } from '../../lib/config.js';
import { inspectStep, reportStep } from '../../lib/workflow/steps.js';
import type { Outcome } from '../../lib/types.js';
import { closeWorkflowDynamo, runWorkflow, type TaskHandler } from './asl-run.js';
import type { Json } from './template-load.js';

const kmsMock = mockClient(KMSClient);
const kms = new KMSClient({ region: 'us-east-1' });
after(async () => {
  kmsMock.restore();
  await closeWorkflowDynamo();
});

const unreachable = (step: string): TaskHandler => () => {
  throw new Error(`${step} must not run for an input that is no work item`);
};

for (const [label, input] of [
  ['an array', ['1234abcd-12ab-34cd-56ef-1234567890ab']],
  ['a string', '1234abcd-12ab-34cd-56ef-1234567890ab'],
  ['a number', 42],
  ['null', null],
  ['an object without keyRef', { action: 'recover' }],
] as Array<[string, Json]>) {
  test(`an execution started with ${label} ends in Report with a failed outcome published`, async () => {
    kmsMock.reset();
    const published: Outcome[] = [];
    const run = await runWorkflow({
      input,
      handlers: {
        Inspect: (item) => inspectStep({ kms }, item, DEFAULT_CONFIG, new Date()) as unknown as Json,
        WrapAndImport: unreachable('WrapAndImport'),
        Verify: unreachable('Verify'),
        Rotate: unreachable('Rotate'),
        Report: (state) => reportStep({ publish: async (o) => void published.push(o) }, state, DEFAULT_CONFIG, new Date()) as unknown as Json,
        NotifyReportFailure: unreachable('NotifyReportFailure'),
      },
    });
    assert.ok(run.path.includes('Report'), run.path.join(' > '));
    assert.equal(run.path.includes('NotifyReportFailure'), false, 'Report itself did not fail');
    assert.equal(published.length, 1, 'one outcome published');
    assert.equal(published[0]?.status, 'failed');
    assert.equal(published[0]?.errorName, 'WorkflowStateInvalid');
    assert.match(published[0]?.reason ?? '', /not a work item/);
    assert.match(published[0]?.reason ?? '', /Nothing was changed/);
    assert.equal(kmsMock.calls().length, 0, 'no AWS call for an input that is no work item');
    assert.equal(run.status, 'FAILED');
    assert.equal(run.error?.name, 'RecoveryFailed', 'a failed outcome fails the execution (the alarm sees it)');
  });
}
