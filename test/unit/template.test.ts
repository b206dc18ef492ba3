import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join, basename } from 'node:path';
import { spawnSync } from 'node:child_process';
import Ajv from 'ajv-draft-04';
import {
  repoRoot,
  loadTemplate,
  serverlessFunctions,
  resourcesOfType,
  entryPointOf,
  makefileTargets,
  functionByEntry,
  aslPlaceholders,
  loadAslText,
  sharedSchemaPath,
  parameterDefaults,
  resolveSub,
  FAKE_REGION,
  type Json,
} from './template-load.js';
import { METRICS_NAMESPACE, SERVICE_NAME } from '../../functions/commons/powertools.js';
import { outcomeMetricName } from '../../lib/workflow/publish.js';

const template = loadTemplate();

describe('template.yaml against the AWS SAM schema', () => {
  const schemaPath = sharedSchemaPath();
  const skip = !schemaPath && !process.env.CI ? 'the shared SAM schema (../shared/schemas/sam.schema.json) is absent; skipped outside CI' : false;

  const definitionFor: Record<string, string> = {
    'AWS::Serverless::Function': 'samtranslator__internal__schema_source__aws_serverless_function__Resource',
    'AWS::Serverless::StateMachine': 'samtranslator__internal__schema_source__aws_serverless_statemachine__Resource',
  };

  function validator(definition: string) {
    assert.ok(schemaPath, 'the SAM schema ../shared/schemas/sam.schema.json is required in CI');
    const ajv = new Ajv.default({ strict: false, allErrors: true });
    ajv.addSchema(JSON.parse(readFileSync(schemaPath, 'utf8')), 'sam');
    const validate = ajv.getSchema(`sam#/definitions/${definition}`);
    assert.ok(validate, `the SAM schema has no definition ${definition}`);
    return validate;
  }

  test('Globals validate', { skip }, () => {
    const validate = validator('__main____Globals');
    assert.ok(validate(template.Globals), JSON.stringify(validate.errors, null, 2));
  });

  test('every AWS::Serverless::* resource validates against its definition', { skip }, () => {
    const serverless = Object.entries(template.Resources).filter(([, r]) => r.Type.startsWith('AWS::Serverless::'));
    assert.ok(serverless.length >= 8, 'expected seven functions and the state machine');
    for (const [id, resource] of serverless) {
      const definition = definitionFor[resource.Type];
      assert.ok(definition, `${id}: no schema mapping for ${resource.Type}`);
      const validate = validator(definition);
      assert.ok(validate(resource), `${id}: ${JSON.stringify(validate.errors, null, 2)}`);
    }
  });

  test('the schema check catches a misspelt property (it is not vacuous)', { skip }, () => {
    const validate = validator(definitionFor['AWS::Serverless::Function'] as string);
    const [, inspect] = functionByEntry(template, 'inspect');
    const broken = structuredClone(inspect);
    broken.Properties.Handlr = broken.Properties.Handler;
    assert.equal(validate(broken), false);
    const brokenMachine = structuredClone(template.Resources.RecoveryStateMachine);
    brokenMachine!.Properties.DefinitionURI = 'statemachine/recovery.asl.json';
    const validateMachine = validator(definitionFor['AWS::Serverless::StateMachine'] as string);
    assert.equal(validateMachine(brokenMachine), false);
  });
});

describe('Globals', () => {
  const fn = template.Globals?.Function;

  test('runtime, architecture, tracing, limits, source maps', () => {
    assert.equal(template.Transform, 'AWS::Serverless-2016-10-31');
    assert.equal(fn.Runtime, 'nodejs22.x');
    assert.deepEqual(fn.Architectures, ['arm64']);
    assert.equal(fn.Tracing, 'Active');
    assert.ok(Number.isInteger(fn.Timeout) && fn.Timeout > 0 && fn.Timeout <= 900);
    assert.ok(Number.isInteger(fn.MemorySize) && fn.MemorySize >= 128);
    assert.equal(fn.Environment.Variables.NODE_OPTIONS, '--enable-source-maps');
  });

  test('every KMS_REIMPORT_* variable is one lib/config.ts reads, fed from a parameter or a fixed value', () => {
    const configSource = readFileSync(join(repoRoot, 'lib', 'config.ts'), 'utf8');
    const variables = Object.entries<Json>(fn.Environment.Variables).filter(([name]) => name.startsWith('KMS_REIMPORT_'));
    assert.ok(variables.length >= 4);
    for (const [name, value] of variables) {
      assert.ok(configSource.includes(`'${name}'`) || configSource.includes(`env.${name}`), `lib/config.ts does not read ${name}`);
      if (typeof value === 'object') {
        assert.ok(value.Ref && template.Parameters[value.Ref], `${name} must Ref a template parameter`);
      }
    }
    const byParameter = Object.fromEntries(variables.filter(([, v]) => typeof v === 'object').map(([n, v]) => [v.Ref, n]));
    for (const parameter of ['ManagedTagKey', 'EscrowPrefix', 'RenewalWindowDays', 'MaterialLifetimeDays', 'RotateEveryDays', 'RotationCapFallback', 'MinRotateEveryDays', 'MaxRotationsPerSweep']) {
      assert.ok(byParameter[parameter], `no KMS_REIMPORT_* variable carries the ${parameter} parameter`);
    }
    // The IAM conditions require the managed tag's value to be "true"; the config must agree.
    assert.equal(fn.Environment.Variables.KMS_REIMPORT_MANAGED_TAG_VALUE, 'true');
  });
});

describe('functions', () => {
  const functions = serverlessFunctions(template);
  const handlerFiles = existsSync(join(repoRoot, 'functions'))
    ? readdirSync(join(repoRoot, 'functions')).filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts')).sort()
    : [];

  test('one function per workflow step and trigger, each built by the Makefile from its own entry point', () => {
    const entries = functions.map(([, r]) => entryPointOf(r)).sort();
    assert.deepEqual(entries, [
      'functions/inspect.ts',
      'functions/report.ts',
      'functions/rotate.ts',
      'functions/sweep.ts',
      'functions/trigger.ts',
      'functions/verify.ts',
      'functions/wrap-and-import.ts',
    ]);
    const targets = makefileTargets();
    assert.deepEqual([...targets.keys()].sort(), functions.map(([id]) => id).sort(), 'one Makefile target build-<LogicalId> per function, no other');
    for (const [id, r] of functions) {
      const name = basename(entryPointOf(r), '.ts');
      // sam build runs `make build-<LogicalId>` from CodeUri's Makefile (scripts/build.mjs --only <name> --flat).
      assert.deepEqual(r.Metadata, { BuildMethod: 'makefile' }, id);
      assert.equal(targets.get(id), name, `${id}: its Makefile target builds functions/${name}.ts`);
      assert.equal(r.Properties.CodeUri, './', `${id}: the Makefile is at the repository root`);
      assert.equal(r.Properties.Handler, `${name}.handler`, `${id}: the target writes ${name}.mjs at the artifact root`);
      assert.match(r.Properties.Description, /kms-reimport/, `${id}: the description must name this app`);
    }
  });

  test('the template builds exactly the handler files in functions/ (checked again when they land)', () => {
    const entries = functions.map(([, r]) => basename(entryPointOf(r))).sort();
    assert.deepEqual(handlerFiles, entries, 'functions/*.ts and the template functions differ');
  });

  test('every entry point exists and exports `handler`', () => {
    for (const [id, r] of functions) {
      const file = join(repoRoot, entryPointOf(r));
      assert.ok(existsSync(file), `${id}: ${entryPointOf(r)} does not exist`);
      const source = readFileSync(file, 'utf8');
      assert.match(
        source,
        /export\s+(const|let|async\s+function|function)\s+handler\b|export\s*\{[^}]*\bhandler\b[^}]*\}/,
        `${id}: ${entryPointOf(r)} exports no handler`,
      );
    }
  });

  test('each function logs to its own log group with the retention parameter', () => {
    const groups = new Set<string>();
    for (const [id, r] of functions) {
      const ref = r.Properties.LoggingConfig?.LogGroup?.Ref;
      assert.ok(ref, `${id}: LoggingConfig.LogGroup must Ref a log group`);
      const group = template.Resources[ref];
      assert.equal(group?.Type, 'AWS::Logs::LogGroup', `${id}: ${ref} is not a log group`);
      assert.deepEqual(group!.Properties.RetentionInDays, { Ref: 'LogRetentionDays' });
      assert.ok(!groups.has(ref), `${id} shares ${ref}`);
      groups.add(ref);
    }
  });

  test('the trigger and sweep know the state machine; Report knows the topic', () => {
    const [, trigger] = functionByEntry(template, 'trigger');
    const [, sweep] = functionByEntry(template, 'sweep');
    const [, report] = functionByEntry(template, 'report');
    assert.deepEqual(trigger.Properties.Environment.Variables.STATE_MACHINE_ARN, { Ref: 'RecoveryStateMachine' });
    assert.deepEqual(sweep.Properties.Environment.Variables.STATE_MACHINE_ARN, { Ref: 'RecoveryStateMachine' });
    assert.deepEqual(report.Properties.Environment.Variables.OUTCOME_TOPIC_ARN, { Ref: 'OutcomeTopic' });
  });
});

/** A small EventBridge matcher for the exact-value patterns the template uses. */
function matchesPattern(pattern: Json, event: Json): boolean {
  return Object.entries<Json>(pattern).every(([key, expected]) => {
    const actual = event?.[key];
    if (Array.isArray(expected)) {
      const values = Array.isArray(actual) ? actual : [actual];
      return values.some((v) => expected.includes(v));
    }
    return typeof actual === 'object' && actual !== null && matchesPattern(expected, actual);
  });
}

describe('triggers', () => {
  const [, trigger] = functionByEntry(template, 'trigger');
  const rules = Object.entries<Json>(trigger.Properties.Events ?? {});

  test('the trigger function has the three EventBridge rules of the KMS events', () => {
    assert.equal(rules.length, 3);
    for (const [name, e] of rules) assert.equal(e.Type, 'EventBridgeRule', name);
    const patterns = rules.map(([, e]) => e.Properties.Pattern);
    assert.deepEqual(patterns.map((p) => p.source), [['aws.kms'], ['aws.kms'], ['aws.kms']]);
    assert.deepEqual(patterns.map((p) => p['detail-type'][0]).sort(), [
      'AWS API Call via CloudTrail',
      'AWS Service Event via CloudTrail',
      'KMS Imported Key Material Expiration',
    ]);
    const cloudTrail = patterns.filter((p) => p.detail);
    assert.deepEqual(cloudTrail.map((p) => p.detail.eventSource), [['kms.amazonaws.com'], ['kms.amazonaws.com']]);
    assert.deepEqual(cloudTrail.map((p) => p.detail.eventName[0]).sort(), ['DeleteExpiredKeyMaterial', 'DeleteImportedKeyMaterial']);
  });

  test('each sample event in events/kms and events/cloudtrail matches exactly one rule', () => {
    const samples = ['kms', 'cloudtrail'].flatMap((dir) =>
      readdirSync(join(repoRoot, 'events', dir))
        .filter((f) => f.endsWith('.json'))
        .map((f) => join('events', dir, f)),
    );
    assert.ok(samples.length >= 3, 'expected the KMS and CloudTrail samples in events/');
    for (const sample of samples) {
      const event = JSON.parse(readFileSync(join(repoRoot, sample), 'utf8'));
      const matching = rules.filter(([, e]) => matchesPattern(e.Properties.Pattern, event)).map(([n]) => n);
      assert.equal(matching.length, 1, `${sample} matches ${JSON.stringify(matching)}`);
    }
  });

  test('events of other sources and names match no rule', () => {
    const base = JSON.parse(readFileSync(join(repoRoot, 'events', 'cloudtrail', 'delete-imported-key-material.json'), 'utf8'));
    const others = [
      { ...structuredClone(base), source: 'aws.s3' },
      { ...structuredClone(base), detail: { ...base.detail, eventName: 'ImportKeyMaterial' } },
      { ...structuredClone(base), detail: { ...base.detail, eventSource: 'secretsmanager.amazonaws.com' } },
    ];
    for (const event of others) {
      assert.deepEqual(rules.filter(([, e]) => matchesPattern(e.Properties.Pattern, event)).map(([n]) => n), []);
    }
  });

  test('the sweep runs on the SweepSchedule parameter with the payload of events/schedule/sweep.json', () => {
    const [, sweep] = functionByEntry(template, 'sweep');
    const events = Object.values<Json>(sweep.Properties.Events ?? {});
    assert.equal(events.length, 1);
    const schedule = events[0];
    assert.equal(schedule.Type, 'ScheduleV2');
    assert.deepEqual(schedule.Properties.ScheduleExpression, { Ref: 'SweepSchedule' });
    const sample = JSON.parse(readFileSync(join(repoRoot, 'events', 'schedule', 'sweep.json'), 'utf8'));
    assert.deepEqual(JSON.parse(schedule.Properties.Input), sample);
  });
});

describe('state machine', () => {
  const machine = template.Resources.RecoveryStateMachine!;

  test('is a STANDARD state machine defined by the ASL file', () => {
    assert.equal(machine.Type, 'AWS::Serverless::StateMachine');
    assert.equal(machine.Properties.Type, 'STANDARD', 'execution-name idempotency (one run per key) needs STANDARD');
    assert.equal(machine.Properties.DefinitionUri, 'statemachine/recovery.asl.json');
    assert.ok(existsSync(join(repoRoot, machine.Properties.DefinitionUri)));
  });

  test('every ${...} in the ASL is a DefinitionSubstitution and every substitution is used', () => {
    const substitutions = Object.keys(machine.Properties.DefinitionSubstitutions).sort();
    assert.deepEqual([...aslPlaceholders(loadAslText())].sort(), substitutions);
  });

  test('substitutions come from !GetAtt of the step functions and !Ref of the topic', () => {
    const subs = machine.Properties.DefinitionSubstitutions;
    const expected: Record<string, string> = {
      InspectFunctionArn: 'inspect',
      WrapAndImportFunctionArn: 'wrap-and-import',
      VerifyFunctionArn: 'verify',
      ReportFunctionArn: 'report',
    };
    for (const [key, name] of Object.entries(expected)) {
      const [id] = functionByEntry(template, name);
      assert.deepEqual(subs[key], { 'Fn::GetAtt': [id, 'Arn'] }, key);
    }
    assert.deepEqual(subs.OutcomeTopicArn, { Ref: 'OutcomeTopic' });
    assert.equal(template.Resources.OutcomeTopic?.Type, 'AWS::SNS::Topic');
  });

  test('may invoke exactly the step functions and publish to the topic', () => {
    const policies: Json[] = machine.Properties.Policies;
    const invoked = policies.filter((p) => p.LambdaInvokePolicy).map((p) => p.LambdaInvokePolicy.FunctionName.Ref).sort();
    const steps = Object.values<Json>(machine.Properties.DefinitionSubstitutions)
      .filter((v) => v['Fn::GetAtt'])
      .map((v) => v['Fn::GetAtt'][0])
      .sort();
    assert.deepEqual(invoked, steps);
    const sns = policies.filter((p) => p.SNSPublishMessagePolicy);
    assert.deepEqual(sns.map((p) => p.SNSPublishMessagePolicy.TopicName), [{ 'Fn::GetAtt': ['OutcomeTopic', 'TopicName'] }]);
  });

  test('logs to its own log group with retention, and is traced', () => {
    const logging = machine.Properties.Logging;
    assert.equal(logging.Level, 'ALL');
    const arn = logging.Destinations[0].CloudWatchLogsLogGroup.LogGroupArn;
    const [groupId] = arn['Fn::GetAtt'];
    const group = template.Resources[groupId];
    assert.equal(group?.Type, 'AWS::Logs::LogGroup');
    assert.deepEqual(group!.Properties.RetentionInDays, { Ref: 'LogRetentionDays' });
    assert.match(group!.Properties.LogGroupName['Fn::Sub'], /^\/aws\/vendedlogs\/states\//);
    assert.equal(machine.Properties.Tracing.Enabled, true);
  });
});

describe('parameters, notifications, alarms, outputs', () => {
  test('parameters have the documented defaults, and every default passes its own constraints', () => {
    const p = template.Parameters;
    assert.equal(p.SweepSchedule.Default, 'rate(6 hours)');
    assert.equal(p.RenewalWindowDays.Default, 14);
    assert.equal(p.MaterialLifetimeDays.Default, 90);
    assert.equal(p.MaterialLifetimeDays.MaxValue, 365, 'KMS allows ValidTo at most 365 days ahead');
    assert.equal(p.ManagedTagKey.Default, 'kms-reimport:managed');
    assert.equal(p.EscrowPrefix.Default, 'kms-reimport/');
    assert.equal(p.NotificationEmail.Default, '');
    assert.ok(p.LogRetentionDays.Default > 0);
    assert.ok(p.ExpiryAlarmThresholdSeconds.Default > 0);
    assert.ok(
      p.ExpiryAlarmThresholdSeconds.Default < p.RenewalWindowDays.Default * 86400,
      'the expiry alarm must fire only after renewal should have happened',
    );
    for (const [name, param] of Object.entries<Json>(p)) {
      assert.ok(param.Description, `${name} has no Description`);
      const value = param.Default;
      if (param.AllowedPattern) assert.match(String(value), new RegExp(param.AllowedPattern), name);
      if (param.AllowedValues) assert.ok(param.AllowedValues.includes(value), name);
      if (param.MinValue !== undefined) assert.ok(value >= param.MinValue, name);
      if (param.MaxValue !== undefined) assert.ok(value <= param.MaxValue, name);
    }
  });

  test('the tag key and escrow prefix patterns keep the IAM JSON documents well-formed', () => {
    for (const name of ['ManagedTagKey', 'EscrowPrefix']) {
      const pattern = new RegExp(template.Parameters[name].AllowedPattern);
      for (const hostile of ['a"b', 'a\\b', 'a}b', 'a b', '']) assert.doesNotMatch(hostile, pattern, `${name} accepts ${hostile}`);
    }
  });

  test('every parameter is used', () => {
    const text = JSON.stringify({ ...template, Parameters: undefined });
    for (const name of Object.keys(template.Parameters)) {
      const used = text.includes(`{"Ref":"${name}"}`) || text.includes(`\${${name}}`) || text.includes(`"${name}"`);
      assert.ok(used, `parameter ${name} is never used`);
    }
  });

  test('the e-mail subscription exists only when an address is given', () => {
    const [[, sub]] = resourcesOfType(template, 'AWS::SNS::Subscription') as [[string, Json]];
    assert.equal(sub.Condition, 'HasNotificationEmail');
    assert.deepEqual(template.Conditions?.HasNotificationEmail, { 'Fn::Not': [{ 'Fn::Equals': [{ Ref: 'NotificationEmail' }, ''] }] });
    assert.deepEqual(sub.Properties.TopicArn, { Ref: 'OutcomeTopic' });
    assert.equal(sub.Properties.Protocol, 'email');
  });

  test('alarms: failed executions, key material expiring sooner than the threshold, escrow problems', () => {
    const alarms = resourcesOfType(template, 'AWS::CloudWatch::Alarm').map(([, a]) => a.Properties);
    const failed = alarms.find((a) => a.MetricName === 'ExecutionsFailed');
    assert.ok(failed, 'no ExecutionsFailed alarm');
    assert.equal(failed.Namespace, 'AWS/States');
    assert.deepEqual(failed.Dimensions, [{ Name: 'StateMachineArn', Value: { Ref: 'RecoveryStateMachine' } }]);
    const expiry = alarms.find((a) => JSON.stringify(a).includes('SecondsUntilKeyMaterialExpiration'));
    assert.ok(expiry, 'no SecondsUntilKeyMaterialExpiration alarm');
    assert.match(JSON.stringify(expiry.Metrics), /AWS\/KMS/);
    assert.deepEqual(expiry.Threshold, { Ref: 'ExpiryAlarmThresholdSeconds' });
    assert.equal(expiry.ComparisonOperator, 'LessThanThreshold');
    for (const alarm of alarms) {
      assert.deepEqual(alarm.AlarmActions, [{ Ref: 'OutcomeTopic' }]);
      assert.match(alarm.AlarmDescription, /kms-reimport/);
      assert.equal(alarm.TreatMissingData, 'notBreaching');
    }
  });

  test("EscrowProblemAlarm: the sweep's EscrowProblem metric, in the namespace and with the service dimension the functions emit it under, to the outcome topic", () => {
    const alarm = template.Resources.EscrowProblemAlarm;
    assert.equal(alarm?.Type, 'AWS::CloudWatch::Alarm');
    const p = alarm.Properties;
    const sweepSource = readFileSync(join(repoRoot, 'functions', 'sweep.ts'), 'utf8');
    assert.ok(sweepSource.includes(`metrics.addMetric('${p.MetricName}', MetricUnit.Count,`), `functions/sweep.ts emits ${p.MetricName}`);
    assert.equal(p.MetricName, 'EscrowProblem');
    assert.equal(p.Namespace, METRICS_NAMESPACE, 'the namespace of functions/commons/powertools.ts');
    assert.equal(p.Namespace, template.Globals.Function.Environment.Variables.POWERTOOLS_METRICS_NAMESPACE);
    assert.deepEqual(p.Dimensions, [{ Name: 'service', Value: SERVICE_NAME }], "Powertools' default dimension");
    assert.equal(SERVICE_NAME, template.Globals.Function.Environment.Variables.POWERTOOLS_SERVICE_NAME);
    assert.equal(p.ComparisonOperator, 'GreaterThanOrEqualToThreshold');
    assert.equal(p.Threshold, 1);
    assert.deepEqual(p.AlarmActions, [{ Ref: 'OutcomeTopic' }]);
  });

  describe('OperationsDashboard', () => {
    const dashboard = template.Resources.OperationsDashboard;
    const raw: string = dashboard?.Properties?.DashboardBody?.['Fn::Sub'];
    const values = { ...parameterDefaults(template), RecoveryStateMachine: 'arn:aws:states:us-east-1:111122223333:stateMachine:kms-reimport-test-RecoveryStateMachine' };
    const body = () => JSON.parse(resolveSub(raw, values)) as { widgets: Json[] };
    const metricsOf = (title: RegExp): Json[][] => {
      const widget = body().widgets.find((w) => title.test(w.properties.title));
      assert.ok(widget, `no widget titled ${title}`);
      assert.equal(widget.properties.region, FAKE_REGION, 'the stack\'s own Region');
      return widget.properties.metrics;
    };
    const named = (metrics: Json[][], namespace: string) => metrics.filter((m) => m[0] === namespace).map((m) => m[1] as string);

    test('an AWS::CloudWatch::Dashboard whose body is built with !Sub and parses as JSON after substitution', () => {
      assert.equal(dashboard?.Type, 'AWS::CloudWatch::Dashboard');
      assert.equal(typeof raw, 'string');
      assert.ok(raw.includes('${AWS::Region}') && raw.includes('${RecoveryStateMachine}'), 'Region and state machine come from the stack, not hard-coded');
      assert.equal(body().widgets.length, 4);
    });

    test('outcomes by status: one metric per outcome status, as Report emits them (outcomeMetricName)', () => {
      const metrics = metricsOf(/^Outcomes by status/);
      const statuses = ['recovered', 'renewed', 'rotated', 'skipped', 'planned', 'failed'] as const;
      assert.deepEqual(named(metrics, METRICS_NAMESPACE).sort(), statuses.map((s) => outcomeMetricName(s)).sort());
      for (const m of metrics) assert.deepEqual(m.slice(2, 4), ['service', SERVICE_NAME]);
    });

    test("keys by days to the earliest ValidTo, and escrow health: metrics the sweep emits", () => {
      const sweepSource = readFileSync(join(repoRoot, 'functions', 'sweep.ts'), 'utf8');
      const emitted = (name: string) => {
        const within = /^KeysValidToWithin(\d+)Days$/.exec(name);
        if (within) return sweepSource.includes('`KeysValidToWithin${within}Days`') && new RegExp(`for \\(const within of \\[[^\\]]*\\b${within[1]}\\b`).test(sweepSource);
        return sweepSource.includes(`metrics.addMetric('${name}',`);
      };
      const validTo = named(metricsOf(/days to their earliest ValidTo/), METRICS_NAMESPACE);
      assert.deepEqual(validTo, ['KeysValidToWithin7Days', 'KeysValidToWithin30Days', 'KeysValidToWithin90Days', 'EarliestValidToDays']);
      const escrow = named(metricsOf(/^Escrow health/), METRICS_NAMESPACE);
      assert.ok(escrow.includes('EscrowProblem'));
      for (const name of [...validTo, ...escrow]) assert.ok(emitted(name), `functions/sweep.ts emits ${name}`);
      assert.ok(raw.includes('"value": ${RenewalWindowDays}'), 'the renewal window comes from its parameter');
    });

    test('executions in flight and failed: AWS/States metrics of this state machine; the expression uses only ids it defines', () => {
      const metrics = metricsOf(/executions/i);
      const states = metrics.filter((m) => m[0] === 'AWS/States');
      assert.deepEqual(states.map((m) => m[1]).sort(), ['ExecutionsAborted', 'ExecutionsFailed', 'ExecutionsStarted', 'ExecutionsSucceeded', 'ExecutionsTimedOut']);
      for (const m of states) assert.deepEqual(m.slice(2, 4), ['StateMachineArn', values.RecoveryStateMachine]);
      const ids = new Set(states.map((m) => m[4].id));
      const expression = metrics.find((m) => typeof m[0] === 'object' && m[0].expression)?.[0];
      assert.ok(expression, 'an in-flight expression');
      const used = [...expression.expression.matchAll(/FILL\((\w+)/g)].map((x: RegExpMatchArray) => x[1]);
      assert.equal(used.length, 5);
      for (const id of used) assert.ok(ids.has(id), `${id} is defined`);
      assert.equal(states.find((m) => m[1] === 'ExecutionsFailed')?.[4].visible, undefined, 'failed executions are shown');
    });
  });

  test('outputs: the state machine, the topic and every function name, described as this app', () => {
    const outputs = template.Outputs ?? {};
    const values = Object.values<Json>(outputs).map((o) => o.Value);
    assert.ok(values.some((v) => v.Ref === 'RecoveryStateMachine'));
    assert.ok(values.some((v) => v.Ref === 'OutcomeTopic'));
    for (const [id] of serverlessFunctions(template)) {
      assert.ok(values.some((v) => v.Ref === id), `no output for ${id}`);
    }
    for (const [name, o] of Object.entries<Json>(outputs)) assert.match(o.Description, /kms-reimport/, name);
  });

  test('every Ref and GetAtt points at something that exists', () => {
    const known = new Set([
      ...Object.keys(template.Resources),
      ...Object.keys(template.Parameters),
      'AWS::NoValue',
      'AWS::Region',
      'AWS::AccountId',
      'AWS::Partition',
      'AWS::StackName',
    ]);
    const missing: string[] = [];
    const walk = (node: Json): void => {
      if (Array.isArray(node)) return node.forEach(walk);
      if (!node || typeof node !== 'object') return;
      if (typeof node.Ref === 'string' && !known.has(node.Ref)) missing.push(`Ref ${node.Ref}`);
      if (Array.isArray(node['Fn::GetAtt']) && !template.Resources[node['Fn::GetAtt'][0]]) missing.push(`GetAtt ${node['Fn::GetAtt'][0]}`);
      if (typeof node['Fn::Sub'] === 'string') {
        for (const m of node['Fn::Sub'].matchAll(/\$\{([^}.!]+)[^}]*\}/g)) if (!known.has(m[1] ?? '')) missing.push(`Sub ${m[1]}`);
      }
      Object.values(node).forEach(walk);
    };
    walk(template.Resources);
    walk(template.Outputs);
    assert.deepEqual(missing, []);
  });
});

describe('cfn-lint', () => {
  const probe = spawnSync('cfn-lint', ['--version'], { encoding: 'utf8' });
  const present = probe.status === 0;
  const skip = !present && !process.env.CI ? 'cfn-lint is not on PATH; skipped outside CI' : false;

  test('cfn-lint template.yaml exits 0', { skip }, () => {
    assert.ok(present, 'cfn-lint must be on PATH in CI');
    const run = spawnSync('cfn-lint', ['template.yaml'], { cwd: repoRoot, encoding: 'utf8' });
    assert.equal(run.status, 0, `cfn-lint found problems:\n${run.stdout}${run.stderr}`);
  });
});

