/**
 * Static checks of statemachine/recovery.asl.json: valid ASL, wired to the template, every state
 * reachable, every path through Report, retries shaped for transient errors only, catches routed
 * by the error names lib/errors.ts defines.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot, loadAslText, loadSubstitutedAsl, aslPlaceholders, loadTemplate, type Json } from './template-load.js';
import { MAX_TOKEN_REFRESHES } from '../../lib/recover.js';
import { REIMPORT_ERROR_NAMES } from '../../lib/errors.js';
import {
  ACQUIRE_CONDITION, RELEASE_CONDITION, LEASE_ATTEMPTS, LEASE_EXPIRES_ATTRIBUTE, LEASE_KEY_ATTRIBUTE, LEASE_OWNER_ATTRIBUTE, LEASE_MARGIN_SECONDS, LEASE_SECONDS, LEASE_WAIT_SECONDS,
} from '../../lib/lease/index.js';

const require = createRequire(import.meta.url);
// asl-validator is CommonJS without type declarations.
const aslValidator = require('asl-validator') as (
  definition: Json,
  options?: { checkPaths: boolean; checkArn: boolean },
) => { isValid: boolean; errorsText: (separator?: string) => string };

const text = loadAslText();
const asl = JSON.parse(text);
const states: Record<string, Json> = asl.States;

const LAMBDA_TASKS = ['Inspect', 'WrapAndImport', 'Verify', 'Rotate', 'Report'];
const LAMBDA_SERVICE_ERRORS = ['Lambda.ServiceException', 'Lambda.AWSLambdaException', 'Lambda.SdkClientException', 'Lambda.TooManyRequestsException'];
/** Errors that retrying cannot fix: they must never appear in a Retry. */
const NEVER_RETRIED = [
  'IncorrectKeyMaterial', 'EscrowMissing', 'EscrowInvalid', 'WrappingRejected', 'UnsupportedWrapping', 'ImportTokenExpired', 'KeyNotFound',
  'KeyNotManaged', 'KeyNotEligible', 'ConfigError', 'VerificationFailed', 'ImportRequestInvalid', 'States.ALL', 'States.TaskFailed',
];

/** All transitions out of a state. */
function targets(state: Json): string[] {
  return [
    state.Next,
    state.Default,
    ...(state.Choices ?? []).map((c: Json) => c.Next),
    ...(state.Catch ?? []).map((c: Json) => c.Next),
  ].filter((t): t is string => typeof t === 'string');
}

function reachableFrom(start: string, without?: string): Set<string> {
  const seen = new Set<string>();
  const queue = [start];
  while (queue.length > 0) {
    const name = queue.shift() as string;
    if (seen.has(name) || name === without) continue;
    seen.add(name);
    queue.push(...targets(states[name]));
  }
  return seen;
}

describe('ASL validity', () => {
  test('asl-validator accepts the definition as deployed (substitutions applied)', () => {
    const result = aslValidator(loadSubstitutedAsl());
    assert.ok(result.isValid, result.errorsText('\n'));
  });

  test('asl-validator rejects a broken transition (the check is not vacuous)', () => {
    const broken = loadSubstitutedAsl();
    broken.States.Verify.Next = 'Nowhere';
    assert.equal(aslValidator(broken).isValid, false);
  });
});

describe('ASL wiring', () => {
  test('every ${...} is a DefinitionSubstitution of template.yaml and every substitution is used', () => {
    const template = loadTemplate();
    const substitutions = Object.keys(template.Resources.RecoveryStateMachine!.Properties.DefinitionSubstitutions).sort();
    assert.deepEqual([...aslPlaceholders(text)].sort(), substitutions);
  });

  test('every placeholder is used where it acts (a Resource or a Parameter), not only in a Comment', () => {
    const withoutComments = JSON.stringify(asl, (key, value) => (key === 'Comment' ? undefined : value));
    for (const name of aslPlaceholders(text)) assert.ok(withoutComments.includes(`\${${name}}`), `\${${name}} only appears in comments`);
    for (const task of LAMBDA_TASKS) assert.match(states[task].Resource, /^\$\{\w+FunctionArn\}$/, task);
    assert.equal(states.NotifyReportFailure.Parameters.TopicArn, '${OutcomeTopicArn}');
  });

  test('no ARN, account or Region is hard-coded', () => {
    const withoutComments = JSON.stringify(asl, (key, value) => (key === 'Comment' ? undefined : value));
    const arns = [...withoutComments.matchAll(/arn:aws[^"]*/g)].map((m) => m[0]);
    assert.deepEqual(
      [...new Set(arns)].sort(),
      ['arn:aws:states:::dynamodb:deleteItem', 'arn:aws:states:::dynamodb:getItem', 'arn:aws:states:::dynamodb:putItem', 'arn:aws:states:::sns:publish'],
      'only the service integration ARNs may be literal',
    );
    for (const state of Object.values(states)) if (state.Parameters?.TableName !== undefined) assert.equal(state.Parameters.TableName, '${LeaseTableName}');
    assert.doesNotMatch(withoutComments, /\d{12}|us-east-1|eu-west-1/);
  });
});

describe('ASL shape: a runbook that always ends in a reported outcome', () => {
  test('every state is reachable and every transition target exists', () => {
    for (const [name, state] of Object.entries(states)) {
      for (const target of targets(state)) assert.ok(states[target], `${name} → ${target}, which does not exist`);
    }
    assert.deepEqual([...reachableFrom(asl.StartAt)].sort(), Object.keys(states).sort());
  });

  test('the runbook reads in the contract order', () => {
    assert.equal(asl.StartAt, 'KeyRefTerms');
    assert.equal(states.KeyRefTerms.Next, 'ChooseFirstStep');
    assert.deepEqual(states.ChooseFirstStep.Choices, [{ Variable: '$.lease.first', IsPresent: true, Next: 'AcquireLease' }]);
    assert.equal(states.ChooseFirstStep.Default, 'Inspect');
    assert.equal(states.Inspect.Next, 'ChooseAction');
    assert.equal(states.ChooseAction.Choices[2].Next, 'LeaseTerms');
    assert.equal(states.LeaseTerms.Next, 'AcquireLease');
    assert.equal(states.AcquireLease.Next, 'Reinspect');
    // AfterReinspect first guards a state without a plan (a Choice on a missing variable fails the
    // run), then settles a lease taken before the only inspection (a skip keeps Inspect's reason;
    // another ARN than the leased one is never imported under it), then acts.
    assert.equal(states.AfterReinspect.Choices[0].Next, 'NoRunnablePlanUnderLease');
    assert.equal(states.AfterReinspect.Choices[1].Next, 'NoRunnablePlan');
    assert.equal(states.AfterReinspect.Choices[2].Next, 'ReleaseLease');
    assert.equal(states.AfterReinspect.Choices[3].Next, 'ReleaseMisdirectedLease');
    assert.equal(states.AfterReinspect.Choices[4].Next, 'WrapAndImport');
    assert.equal(states.WrapAndImport.Next, 'MoreMaterials');
    assert.equal(states.Verify.Next, 'ReleaseLease');
    assert.equal(states.ReleaseLease.Next, 'Report');
    assert.equal(states.Report.Next, 'Succeeded?');
    assert.equal(states['Succeeded?'].Default, 'Done');
    assert.equal(states.Done.Type, 'Succeed');
    assert.equal(states.Failed.Type, 'Fail');
    assert.equal(states.Failed.Error, 'RecoveryFailed');
  });

  test('only Succeed and Fail states end an execution, and none is reachable without passing Report', () => {
    for (const [name, state] of Object.entries(states)) {
      if (state.End) assert.fail(`${name} ends the execution with End: true`);
      if (targets(state).length === 0) assert.ok(['Succeed', 'Fail'].includes(state.Type), `${name} is a dead end`);
    }
    const withoutReport = reachableFrom(asl.StartAt, 'Report');
    const endsWithoutReport = [...withoutReport].filter((n) => ['Succeed', 'Fail'].includes(states[n].Type));
    assert.deepEqual(endsWithoutReport, [], 'every path must go through Report');
  });

  test('every state has a Comment, and the machine has a top-level Comment and timeout', () => {
    assert.ok(asl.Comment.length > 40);
    assert.ok(Number.isInteger(asl.TimeoutSeconds) && asl.TimeoutSeconds > 0);
    for (const [name, state] of Object.entries(states)) assert.ok(typeof state.Comment === 'string' && state.Comment.length > 10, `${name} has no Comment`);
  });

  test('Lambda tasks pass the whole state through (the result replaces the state), with a timeout', () => {
    for (const task of LAMBDA_TASKS) {
      // No ResultPath means "$": the returned state document replaces the input. (Written out as
      // "$", aws-local-stepfunctions 3 would nest the result under a "$" key instead.)
      assert.equal(states[task].ResultPath, undefined, task);
      assert.equal(states[task].Parameters, undefined, `${task} must receive the state whole`);
      assert.equal(states[task].OutputPath, undefined, task);
      assert.ok(states[task].TimeoutSeconds > 0, `${task} has no TimeoutSeconds`);
    }
  });
});

describe('ASL retries and catches', () => {
  const errorClasses = new Set(
    [...readFileSync(join(repoRoot, 'lib', 'errors.ts'), 'utf8').matchAll(/this\.name = '(\w+)'/g)].map((m) => m[1] as string),
  );

  test('every retrier is bounded, backs off with full jitter and a delay cap, and only for transient errors', () => {
    for (const [name, state] of Object.entries(states)) {
      for (const retrier of state.Retry ?? []) {
        assert.ok(retrier.IntervalSeconds >= 1, `${name}: IntervalSeconds`);
        assert.ok(retrier.BackoffRate > 1, `${name}: BackoffRate`);
        assert.ok(retrier.MaxAttempts >= 1 && retrier.MaxAttempts <= 5, `${name}: MaxAttempts must be bounded`);
        assert.ok(retrier.MaxDelaySeconds >= retrier.IntervalSeconds && retrier.MaxDelaySeconds <= 120, `${name}: MaxDelaySeconds`);
        // Rotate's "continue later" retrier waits for KMS or a replica Region, not for a contended resource: no jitter.
        const continueLater = name === 'Rotate' && retrier.ErrorEquals.includes('ReplicaNotYetRotated');
        assert.equal(retrier.JitterStrategy, continueLater ? 'NONE' : 'FULL', name);
        if (name === 'NotifyReportFailure') continue; // an SNS notice: safe to resend
        for (const error of retrier.ErrorEquals) assert.ok(!NEVER_RETRIED.includes(error), `${name} retries ${error}`);
      }
    }
  });

  test('every Lambda task retries Lambda service errors; KMS steps retry KmsUnavailable', () => {
    for (const task of LAMBDA_TASKS) {
      const retried = (states[task].Retry ?? []).flatMap((r: Json) => r.ErrorEquals);
      for (const error of LAMBDA_SERVICE_ERRORS) assert.ok(retried.includes(error), `${task} does not retry ${error}`);
      if (task !== 'Report') assert.ok(retried.includes('KmsUnavailable'), `${task} does not retry KmsUnavailable`);
    }
  });

  test('every Lambda task catches everything last, into Report (Inspect via InspectFailed)', () => {
    for (const task of LAMBDA_TASKS) {
      const catches = states[task].Catch ?? [];
      const last = catches.at(-1);
      assert.deepEqual(last?.ErrorEquals, ['States.ALL'], `${task}: last catcher must be States.ALL`);
      // After the lease was taken, every failure releases it on the way to Report.
      const expected = task === 'Inspect' ? 'InspectFailed' : task === 'Report' ? 'NotifyReportFailure' : 'ReleaseLease';
      assert.equal(last.Next, expected, task);
      for (const c of catches) {
        if (c.Next === 'TokenExpired') continue;
        // Inspect sees the raw execution input, which may be no object ($.error could not be set): its
        // error replaces the state (no ResultPath) and InspectFailed rebuilds the document around it.
        if (task === 'Inspect') assert.equal(c.ResultPath, undefined, 'Inspect: the error replaces the state');
        else assert.equal(c.ResultPath, task === 'Report' ? '$.reportError' : '$.error', `${task}: caught errors go to $.error`);
      }
    }
    assert.equal(states.InspectFailed.Next, 'Report');
    assert.equal(states.InspectFailed.Parameters['error.$'], '$', 'InspectFailed keeps the whole caught error');
  });

  test('WrapAndImport: expired token → new parameters; wrong material and escrow errors → Report', () => {
    const catches: Json[] = states.WrapAndImport.Catch;
    const routeOf = (error: string) => catches.find((c) => c.ErrorEquals.includes(error) || c.ErrorEquals.includes('States.ALL'));
    assert.equal(routeOf('ImportTokenExpired')?.Next, 'TokenExpired');
    assert.equal(routeOf('ImportTokenExpired')?.ResultPath, '$.tokenExpiry', 'an expired token is not an error of the run');
    for (const error of ['IncorrectKeyMaterial', 'EscrowMissing', 'EscrowInvalid', 'WrappingRejected']) {
      const c = routeOf(error);
      assert.ok(c?.ErrorEquals.includes(error), `${error} is routed by name`);
      assert.equal(c?.Next, 'ReleaseLease', error);
    }
  });

  test('the token refresh loop is bounded: at most MAX_TOKEN_REFRESHES (lib/recover.ts: the CLI\'s number too), then Report', () => {
    assert.equal(states.TokenExpired.Next, 'RecordTokenRefresh');
    assert.equal(states.RecordTokenRefresh.Next, 'TokenRefreshAllowed');
    const rule = states.TokenRefreshAllowed.Choices[0];
    assert.equal(rule.Variable, '$.tokenRefreshes');
    assert.equal(rule.NumericLessThanEquals, MAX_TOKEN_REFRESHES, 'the state machine and recoverKey refresh tokens the same number of times');
    assert.equal(rule.Next, 'PaceImportParameters');
    assert.equal(states.TokenRefreshAllowed.Default, 'TokenRefreshesExhausted');
    assert.equal(states.TokenRefreshesExhausted.Next, 'ReleaseLease');
    assert.match(states.TokenExpired.Parameters['value.$'], /States\.MathAdd\(\$\.tokenRefreshes, 1\)/);
  });

  test('a second WrapAndImport in one run (it asks for parameters again) waits for KMS\'s GetParametersForImport quota first', () => {
    assert.equal(states.MoreMaterials.Choices[0].Next, 'PaceImportParameters');
    assert.equal(states.PaceImportParameters.Type, 'Wait');
    assert.ok(states.PaceImportParameters.Seconds >= 4);
    assert.equal(states.PaceImportParameters.Next, 'WrapAndImport');
  });

  test('WrapAndImport fetches its own parameters: no GetImportParameters task; throttling of GetParametersForImport (KmsUnavailable) is retried with wide spacing', () => {
    assert.equal(states.GetImportParameters, undefined);
    assert.ok(!JSON.stringify(asl).includes('GetImportParametersFunctionArn'));
    const kms = states.WrapAndImport.Retry.find((r: Json) => r.ErrorEquals.includes('KmsUnavailable'));
    assert.ok(kms.IntervalSeconds >= 5 && kms.MaxAttempts >= 4, 'GetParametersForImport is throttled at about 1/s: wait seconds, several times');
  });

  test('every error name the ASL routes on is a named error of lib/errors.ts (or a Step Functions / Lambda error)', () => {
    assert.ok(errorClasses.size >= 12, 'lib/errors.ts defines the named errors');
    const names = Object.values(states).flatMap((s: Json) => [...(s.Retry ?? []), ...(s.Catch ?? [])].flatMap((r: Json) => r.ErrorEquals));
    for (const name of names) {
      if (name.startsWith('States.') || name.startsWith('Lambda.') || name.startsWith('DynamoDB.')) continue;
      assert.ok(errorClasses.has(name), `${name} is not an error class name in lib/errors.ts`);
    }
  });
});

describe('ASL: the rotation branch', () => {
  test('a rotate plan takes the lease like recover/renew, then (held, same key) runs Rotate, then ReleaseLease', () => {
    const rotateChoice = states.ChooseAction.Choices.find((c: Json) => JSON.stringify(c).includes('"StringEquals":"rotate"'));
    assert.equal(rotateChoice?.Next, 'LeaseTerms');
    assert.ok(JSON.stringify(rotateChoice).includes('$.report.arn'), 'only with the key ARN to lease');
    const underLease = states.AfterReinspect.Choices.find((c: Json) => c.Next === 'Rotate');
    const conditions = JSON.stringify(underLease);
    assert.ok(conditions.includes('"Variable":"$.lease.acquired","IsPresent":true'), 'Rotate only while holding the lease');
    assert.ok(conditions.includes('"StringEqualsPath":"$.lease.keyArn"'), 'Rotate only the key that was leased');
    // Guarded before the catch-all "holding the lease, nothing runnable" rule.
    const choices = states.AfterReinspect.Choices.map((c: Json) => c.Next);
    assert.ok(choices.indexOf('Rotate') < choices.lastIndexOf('NoRunnablePlanUnderLease'));
    assert.equal(states.Rotate.Next, 'ReleaseLease');
    assert.match(states.Rotate.Resource, /^\$\{RotateFunctionArn\}$/);
  });

  test('Rotate: named failures go to Report through the release, never retried; only RotationConflict and transient errors are retried, boundedly', () => {
    const named = states.Rotate.Catch[0];
    for (const error of ['RotationLimitReached', 'RotationKeyUnusable', 'EscrowWriteFailed', 'IncorrectKeyMaterial', 'EscrowNotReplicated', 'MultiRegionRotationRefused', 'PendingMaterialUnproven', 'PermissionDenied']) {
      assert.ok(named.ErrorEquals.includes(error), error);
    }
    // Every name the rotation engine ends in (lib/workflow/steps.ts RotationFailed keeps it when it is one of REIMPORT_ERROR_NAMES) is routed by name.
    const engineNames = [
      'RotationConflict', 'RotationLimitReached', 'RotationKeyUnusable', 'EscrowWriteFailed', 'EscrowMissing', 'EscrowInvalid', 'IncorrectKeyMaterial',
      'KeyNotEligible', 'KeyNotManaged', 'KeyNotFound', 'KeyNotReadable', 'VerificationFailed', 'EscrowNotReplicated', 'ReplicaNotYetRotated', 'MultiRegionRotationRefused',
      'PendingMaterialUnproven', 'PermissionDenied', 'KmsUnavailable', 'KmsLimitExceeded', 'KmsRequestInvalid', 'KmsResponseInvalid', 'WrappingRejected',
      'UnsupportedWrapping', 'ImportRequestInvalid', 'TaskInputRejected', 'ConfigError', 'UnexpectedError',
    ];
    for (const error of engineNames) {
      assert.ok((REIMPORT_ERROR_NAMES as readonly string[]).includes(error), `${error} is a name of lib/errors.ts`);
      assert.ok(named.ErrorEquals.includes(error), `${error} is caught by name`);
    }
    assert.equal(named.Next, 'ReleaseLease');
    assert.equal(named.ResultPath, '$.error');
    const retried = states.Rotate.Retry.flatMap((r: Json) => r.ErrorEquals);
    assert.ok(retried.includes('RotationConflict'));
    for (const error of ['RotationLimitReached', 'RotationKeyUnusable', 'EscrowWriteFailed', 'MultiRegionRotationRefused', 'PendingMaterialUnproven']) assert.ok(!retried.includes(error), `${error} is retried`);
    const replication = states.Rotate.Retry.find((r: Json) => r.ErrorEquals.includes('EscrowNotReplicated'));
    assert.ok(replication.IntervalSeconds >= 10 && replication.MaxAttempts <= 3, 'a replication on its way: wait a little, a bounded number of times');
    const conflict = states.Rotate.Retry.find((r: Json) => r.ErrorEquals.includes('RotationConflict'));
    assert.ok(conflict.IntervalSeconds >= 30, 'KMS says a rotation is running or due within minutes: wait, do not hammer');
    assert.match(states.Rotate.Comment, /crash-safe/);
    assert.ok(states.Rotate.TimeoutSeconds >= 300);
  });
});

describe('ASL: the per-key lease (the same lease as lib/lease)', () => {
  const template = loadTemplate();
  const table = template.Resources.LeaseTable!.Properties;

  test('the table is keyed, expired and named as lib/lease says; the state machine gets it by substitution', () => {
    assert.deepEqual(table.KeySchema, [{ AttributeName: LEASE_KEY_ATTRIBUTE, KeyType: 'HASH' }]);
    assert.deepEqual(table.TimeToLiveSpecification, { AttributeName: LEASE_EXPIRES_ATTRIBUTE, Enabled: true });
    assert.equal(table.BillingMode, 'PAY_PER_REQUEST');
    assert.deepEqual(table.SSESpecification, { SSEEnabled: true });
    assert.deepEqual(template.Resources.RecoveryStateMachine!.Properties.DefinitionSubstitutions.LeaseTableName, { Ref: 'LeaseTable' });
  });

  test('AcquireLease: a conditional PutItem with lib/lease\'s condition, attributes and owner; ReleaseLease only by the owner', () => {
    const put = states.AcquireLease;
    assert.equal(put.Resource, 'arn:aws:states:::dynamodb:putItem');
    assert.equal(put.Parameters.ConditionExpression, ACQUIRE_CONDITION);
    assert.deepEqual(Object.keys(put.Parameters.Item).sort(), [LEASE_EXPIRES_ATTRIBUTE, LEASE_KEY_ATTRIBUTE, LEASE_OWNER_ATTRIBUTE].sort());
    assert.deepEqual(put.Parameters.ExpressionAttributeNames, { '#owner': LEASE_OWNER_ATTRIBUTE });
    assert.equal(put.Parameters.Item[LEASE_EXPIRES_ATTRIBUTE]['N.$'], '$.lease.expiresAt', 'a Number: the TTL attribute');
    assert.equal(put.Catch[0].ErrorEquals[0], 'DynamoDB.ConditionalCheckFailedException');
    assert.equal(put.Catch[0].Next, 'ReadLeaseHolder');
    const release = states.ReleaseLease;
    assert.equal(release.Resource, 'arn:aws:states:::dynamodb:deleteItem');
    assert.equal(release.Parameters.ConditionExpression, RELEASE_CONDITION);
    assert.equal(release.Parameters.ExpressionAttributeValues[':owner']['S.$'], '$$.Execution.Id');
    assert.match(states.LeaseTerms.Output, /'owner': \$states\.context\.Execution\.Id/);
    assert.equal(release.ResultPath, null, 'the release result never replaces the state');
    assert.equal(release.Catch.at(-1).ResultPath, '$.leaseReleaseError', 'a failed release is not the run\'s failure');
    assert.equal(release.Catch.at(-1).Next, 'Report');
  });

  test('the lease lasts the machine\'s TimeoutSeconds (no execution outlives its lease), waits are lib/lease\'s, bounded', () => {
    assert.equal(LEASE_SECONDS, asl.TimeoutSeconds);
    assert.ok(
      states.LeaseTerms.Output.includes(`$toMillis($states.context.Execution.StartTime) / 1000) + ${LEASE_SECONDS + LEASE_MARGIN_SECONDS})`),
      'expiresAt = the execution start + LEASE_SECONDS + LEASE_MARGIN_SECONDS: no task outlives the lease',
    );
    assert.equal(states.LeaseTerms.QueryLanguage, 'JSONata');
    assert.equal(states.WaitForLease.Seconds, LEASE_WAIT_SECONDS);
    assert.equal(states.LeaseWaitAllowed.Choices[0].Variable, '$.lease.attempts');
    assert.equal(states.LeaseWaitAllowed.Choices[0].NumericLessThan, LEASE_ATTEMPTS);
    assert.equal(states.LeaseWaitAllowed.Default, 'LeaseStillHeld');
    assert.equal(states.LeaseStillHeld.Next, 'Report');
  });

  test('KeyRefTerms: the lease document before Inspect, only for a work item naming its key by ID or ARN (not plan, not an alias, not a malformed input)', () => {
    const output: string = states.KeyRefTerms.Output;
    assert.equal(states.KeyRefTerms.QueryLanguage, 'JSONata');
    // The same lease terms as LeaseTerms: owner, clock, expiry.
    for (const part of ["'owner': $states.context.Execution.Id", '$toMillis($states.context.State.EnteredTime) / 1000', `$toMillis($states.context.Execution.StartTime) / 1000) + ${LEASE_SECONDS + LEASE_MARGIN_SECONDS})`, "'attempts': 1", "'first': true"]) {
      assert.ok(output.includes(part), part);
    }
    assert.ok(output.includes("$split($states.context.StateMachine.Id, ':')"), "a bare key ID's ARN: the state machine's own partition, Region and account");
    assert.ok(output.includes("$states.input.action in ['recover', 'renew', 'auto', 'rotate']"), 'a plan-only run takes no lease');
    // LeaseTerms (the alias path, and the retry after a wait) never sets first: the misdirected-lease fallback happens at most once.
    assert.ok(!states.LeaseTerms.Output.includes('first'));
    assert.equal(states.ReleaseMisdirectedLease.Resource, 'arn:aws:states:::dynamodb:deleteItem');
    assert.deepEqual(states.ReleaseMisdirectedLease.Parameters, states.ReleaseLease.Parameters, 'released only by its owner, as ReleaseLease');
    assert.equal(states.ReleaseMisdirectedLease.Next, 'LeaseTerms');
    assert.equal(states.ReleaseMisdirectedLease.ResultPath, null);
    const misdirected = JSON.stringify(states.AfterReinspect.Choices[3]);
    assert.ok(misdirected.includes('"Not":{"Variable":"$.report.arn","StringEqualsPath":"$.lease.keyArn"}'));
  });

  test('Reinspect is the Inspect function on the work item and the execution\'s startedAt (kept: the rotation id comes from it), with Inspect\'s retries', () => {
    assert.equal(states.Reinspect.Resource, states.Inspect.Resource);
    assert.equal(states.Reinspect.InputPath, undefined);
    assert.deepEqual(states.Reinspect.Parameters, { 'workItem.$': '$.workItem', 'startedAt.$': '$.startedAt' });
    assert.deepEqual(states.Reinspect.Retry, states.Inspect.Retry);
    assert.deepEqual(states.Reinspect.Catch.at(-1).ErrorEquals, ['States.ALL']);
  });

  test('once the lease is taken, Report is only reached through ReleaseLease; before it, never', () => {
    for (const start of ['Reinspect', 'WrapAndImport', 'Verify', 'Rotate', 'TokenRefreshesExhausted', 'NothingToDoUnderLease', 'NoRunnablePlanUnderLease']) {
      // Reinspect is also reached after a wait (not holding); from there ReleaseIfHeld decides.
      const withoutRelease = reachableFrom(start, 'ReleaseLease');
      const leaks = ['Report'].filter((s) => withoutRelease.has(s) && start !== 'Reinspect');
      assert.deepEqual(leaks, [], `${start} reaches Report without ReleaseLease`);
    }
    assert.deepEqual(states.ReleaseIfHeld.Choices[0], { Variable: '$.lease.acquired', IsPresent: true, Next: 'ReleaseLease' });
    for (const name of ['AcquireLease', 'ReadLeaseHolder', 'ReleaseLease']) {
      for (const r of states[name].Retry) for (const e of r.ErrorEquals) assert.match(e, /^DynamoDB\.(InternalServerError|Throttling|RequestLimitExceeded|ProvisionedThroughputExceeded)/, `${name} retries ${e}`);
    }
  });
});

describe('ASL: retries bounded by the execution timeout (every path reaches Report)', () => {
  /** ASL's defaults for a retrier: IntervalSeconds 1, BackoffRate 2, MaxAttempts 3. */
  function worstCase(state: Json): { attempts: number; seconds: number } {
    assert.equal(typeof state.TimeoutSeconds, 'number', 'every Task has a TimeoutSeconds (ASL\'s default is 99999999)');
    let attempts = 1;
    let waits = 0;
    for (const r of (state.Retry ?? []) as Json[]) {
      const max = r.MaxAttempts ?? 3;
      attempts += max;
      // Each retrier counts its own attempts: in the worst case every retrier is spent, each attempt timing out.
      for (let k = 0; k < max; k++) waits += Math.min((r.IntervalSeconds ?? 1) * (r.BackoffRate ?? 2) ** k, r.MaxDelaySeconds ?? Number.POSITIVE_INFINITY);
    }
    return { attempts, seconds: attempts * state.TimeoutSeconds + waits };
  }
  const tasks = Object.entries(states).filter(([, s]) => s.Type === 'Task');

  test('for every Task, every attempt timing out and every retrier spent still ends below the machine\'s TimeoutSeconds (and the lease\'s expiry)', () => {
    assert.ok(tasks.length >= 10);
    assert.equal(asl.TimeoutSeconds, LEASE_SECONDS);
    for (const [name, state] of tasks) {
      const { attempts, seconds } = worstCase(state);
      assert.ok(seconds < asl.TimeoutSeconds, `${name}: ${attempts} attempts of ${state.TimeoutSeconds} s plus waits = ${seconds} s, not below ${asl.TimeoutSeconds} s`);
      assert.ok(seconds < LEASE_SECONDS + LEASE_MARGIN_SECONDS);
    }
  });

  test('the rotation branch: Inspect, AcquireLease and Reinspect once, then Rotate, ReleaseLease and Report at their worst, fit in the machine\'s TimeoutSeconds: a Rotate whose every retry is spent is still reported', () => {
    const once = (name: string) => states[name].TimeoutSeconds as number;
    const total = once('Inspect') + once('AcquireLease') + once('Reinspect') + worstCase(states.Rotate).seconds + worstCase(states.ReleaseLease).seconds + worstCase(states.Report).seconds;
    assert.ok(total < asl.TimeoutSeconds, `the rotation branch at its worst takes ${total} s, not below ${asl.TimeoutSeconds} s`);
    // Rotate itself: the shared "continue later" retrier (RotationConflict, EscrowNotReplicated, ReplicaNotYetRotated) is one budget.
    const later = states.Rotate.Retry.filter((r: Json) => r.ErrorEquals.some((e: string) => ['RotationConflict', 'EscrowNotReplicated', 'ReplicaNotYetRotated'].includes(e)));
    assert.equal(later.length, 1, 'one retrier, one budget, for the errors a later attempt continues from');
    assert.deepEqual([...later[0].ErrorEquals].sort(), ['EscrowNotReplicated', 'ReplicaNotYetRotated', 'RotationConflict']);
    assert.ok(later[0].IntervalSeconds >= 30 && later[0].MaxAttempts <= 3);
    assert.equal(later[0].JitterStrategy, 'NONE', 'replica lag needs the full wait, not a jittered one near zero');
  });
});
