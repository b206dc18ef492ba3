/**
 * The deployed stack: its resources from CloudFormation (DescribeStacks, DescribeStackResources),
 * then each one asked of its own service: the EventBridge rules enabled (DescribeRule), the state
 * machine present (DescribeStateMachine), the outcome topic with a confirmed subscription
 * (ListSubscriptionsByTopic: a subscription whose ARN is `PendingConfirmation` hears nothing).
 */
import { DescribeStackResourcesCommand, DescribeStacksCommand, type CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { DescribeRuleCommand, ListTargetsByRuleCommand, type EventBridgeClient, type Target } from '@aws-sdk/client-eventbridge';
import { DescribeStateMachineCommand, type SFNClient } from '@aws-sdk/client-sfn';
import { ListSubscriptionsByTopicCommand, type SNSClient, type Subscription } from '@aws-sdk/client-sns';
import { awsErrorName } from '../errors.js';
import { check, couldNotCheck, type DoctorCheck } from './check.js';

export interface StackResource {
  logicalId: string;
  type: string;
  physicalId: string;
}

export interface DeployedStack {
  name: string;
  /** arn:PARTITION:cloudformation:REGION:ACCOUNT:stack/NAME/ID */
  stackId: string;
  status: string;
  parameters: Record<string, string>;
  resources: StackResource[];
  /** From the stack ID. */
  partition: string;
  account: string;
}

export type StackLookup = { stack: DeployedStack; checks: DoctorCheck[] } | { stack?: undefined; checks: DoctorCheck[] };

const STACK_ID = /^arn:([^:]+):cloudformation:[^:]*:(\d{12}):stack\//;

/** Reads the stack and says whether it is in a usable state. */
export async function readStack(cfn: Pick<CloudFormationClient, 'send'>, stackName: string): Promise<StackLookup> {
  const subject = `stack ${stackName}`;
  try {
    const described = await cfn.send(new DescribeStacksCommand({ StackName: stackName }));
    const found = described?.Stacks?.[0];
    if (!found?.StackId) throw Object.assign(new Error('no such stack'), { name: 'ValidationError' });
    const resources = (await cfn.send(new DescribeStackResourcesCommand({ StackName: stackName })))?.StackResources ?? [];
    const id = STACK_ID.exec(found.StackId);
    const stack: DeployedStack = {
      name: stackName,
      stackId: found.StackId,
      status: found.StackStatus ?? 'UNKNOWN',
      parameters: Object.fromEntries((found.Parameters ?? []).map((p) => [p.ParameterKey ?? '', p.ParameterValue ?? ''])),
      resources: resources
        .filter((r) => r.PhysicalResourceId !== undefined && r.ResourceType !== undefined)
        .map((r) => ({ logicalId: r.LogicalResourceId ?? '?', type: r.ResourceType!, physicalId: r.PhysicalResourceId! })),
      partition: id?.[1] ?? 'aws',
      account: id?.[2] ?? '',
    };
    const status = stack.status;
    const broken = /(_FAILED|ROLLBACK_COMPLETE|^DELETE_)/.test(status) && status !== 'UPDATE_ROLLBACK_COMPLETE';
    const busy = /_IN_PROGRESS$/.test(status);
    const line = broken
      ? check('stack', subject, 'fail', `is ${status}: its resources may be missing or old`, `see why: aws cloudformation describe-stack-events --stack-name ${stackName}; fix and deploy again (sam deploy)`)
      : busy
        ? check('stack', subject, 'warn', `is ${status}: what doctor sees may change in a moment`, 'wait for the deployment to finish, then run doctor again')
        : check('stack', subject, 'ok', `is ${status} (${stack.resources.length} resources)`);
    return { stack, checks: [line] };
  } catch (e) {
    const code = awsErrorName(e);
    if (code === 'ValidationError' || code === 'ValidationException') {
      return {
        checks: [
          check('stack', subject, 'fail', 'does not exist in this account and Region', `check the stack name and Region (aws cloudformation list-stacks), or deploy it: sam deploy --guided --stack-name ${stackName}`),
        ],
      };
    }
    return { checks: [couldNotCheck('stack', subject, 'DescribeStacks/DescribeStackResources', e, 'cloudformation:DescribeStacks and cloudformation:DescribeStackResources')] };
  }
}

export function resourcesOfType(stack: DeployedStack, type: string): StackResource[] {
  return stack.resources.filter((r) => r.type === type);
}

/** The IAM role ARNs of the stack (the functions' and the state machine's roles). */
export function roleArnsOf(stack: DeployedStack): string[] {
  return resourcesOfType(stack, 'AWS::IAM::Role').map((r) =>
    r.physicalId.startsWith('arn:') ? r.physicalId : `arn:${stack.partition}:iam::${stack.account}:role/${r.physicalId}`,
  );
}

/** Every AWS::Events::Rule of the stack is ENABLED. A rule's physical ID is its name, or `bus|name` on another bus. */
export async function checkRules(events: Pick<EventBridgeClient, 'send'>, stack: DeployedStack): Promise<DoctorCheck[]> {
  const rules = resourcesOfType(stack, 'AWS::Events::Rule');
  if (rules.length === 0) {
    return [
      check('rule', `stack ${stack.name}`, 'fail', 'has no EventBridge rule: nothing starts a recovery when KMS or CloudTrail reports an outage', `deploy kms-reimport's template.yaml as ${stack.name} (sam deploy)`),
    ];
  }
  const out: DoctorCheck[] = [];
  for (const rule of rules) {
    const [bus, name] = rule.physicalId.includes('|') ? (rule.physicalId.split('|', 2) as [string, string]) : [undefined, rule.physicalId];
    const subject = `${name} (${rule.logicalId})`;
    const busFlag = bus !== undefined ? ` --event-bus-name ${bus}` : '';
    try {
      const described = await events.send(new DescribeRuleCommand({ Name: name, ...(bus !== undefined ? { EventBusName: bus } : {}) }));
      const state = described?.State ?? 'UNKNOWN';
      if (state === 'DISABLED') {
        out.push(check('rule', subject, 'fail', 'is DISABLED: the events it matches start no recovery', `aws events enable-rule --name ${name}${busFlag}`));
        continue;
      }
      if (!state.startsWith('ENABLED')) {
        out.push(check('rule', subject, 'warn', `is in state ${state}`, `aws events describe-rule --name ${name}${busFlag}`));
        continue;
      }
      // An enabled rule with no target matches events and starts nothing.
      let targets: Target[];
      try {
        targets = await targetsOf(events, name, bus);
      } catch (e) {
        out.push(couldNotCheck('rule', subject, 'ListTargetsByRule', e, 'events:ListTargetsByRule'));
        continue;
      }
      out.push(
        targets.length === 0
          ? check('rule', subject, 'fail', `is ${state} but has no target: the events it matches start no recovery`, 'deploy the stack again (sam deploy) to restore its target')
          : check('rule', subject, 'ok', `is ${state}, ${targets.length} target(s)`),
      );
    } catch (e) {
      if (awsErrorName(e) === 'ResourceNotFoundException') {
        out.push(check('rule', subject, 'fail', 'is in the stack but not in EventBridge (deleted by hand?)', `deploy the stack again (sam deploy) to recreate it`));
      } else {
        out.push(couldNotCheck('rule', subject, 'DescribeRule', e, 'events:DescribeRule'));
      }
    }
  }
  return out;
}

/** Every target of a rule (ListTargetsByRule, all pages). */
async function targetsOf(events: Pick<EventBridgeClient, 'send'>, rule: string, bus: string | undefined): Promise<Target[]> {
  const targets: Target[] = [];
  let token: string | undefined;
  do {
    const page = await events.send(new ListTargetsByRuleCommand({ Rule: rule, ...(bus !== undefined ? { EventBusName: bus } : {}), ...(token ? { NextToken: token } : {}) }));
    targets.push(...(page?.Targets ?? []));
    token = page?.NextToken || undefined;
  } while (token);
  return targets;
}

/** The stack's state machine exists and is ACTIVE. */
export async function checkStateMachine(sfn: Pick<SFNClient, 'send'>, stack: DeployedStack): Promise<DoctorCheck[]> {
  const machines = resourcesOfType(stack, 'AWS::StepFunctions::StateMachine');
  if (machines.length === 0) {
    return [check('state-machine', `stack ${stack.name}`, 'fail', 'has no state machine: no recovery can run', `deploy kms-reimport's template.yaml as ${stack.name} (sam deploy)`)];
  }
  const out: DoctorCheck[] = [];
  for (const machine of machines) {
    const arn = machine.physicalId;
    try {
      const described = await sfn.send(new DescribeStateMachineCommand({ stateMachineArn: arn }));
      const status = described?.status;
      out.push(
        status === undefined
          ? check('state-machine', arn, 'warn', 'exists, but DescribeStateMachine did not say its status: whether executions can start is unknown', `aws stepfunctions describe-state-machine --state-machine-arn ${arn}`)
          : status === 'ACTIVE'
            ? check('state-machine', arn, 'ok', 'is ACTIVE')
            : check('state-machine', arn, 'fail', `is ${status}: executions cannot start`, 'deploy the stack again (sam deploy)'),
      );
    } catch (e) {
      out.push(
        awsErrorName(e) === 'StateMachineDoesNotExist'
          ? check('state-machine', arn, 'fail', 'is in the stack but does not exist (deleted by hand?)', 'deploy the stack again (sam deploy) to recreate it')
          : couldNotCheck('state-machine', arn, 'DescribeStateMachine', e, 'states:DescribeStateMachine'),
      );
    }
  }
  return out;
}

/** The outcome topic has at least one confirmed subscription (else failures alarm no one). */
export async function checkTopics(sns: Pick<SNSClient, 'send'>, stack: DeployedStack): Promise<DoctorCheck[]> {
  const topics = resourcesOfType(stack, 'AWS::SNS::Topic');
  if (topics.length === 0) {
    return [check('topic', `stack ${stack.name}`, 'fail', 'has no SNS topic: outcomes and alarms reach no one', `deploy kms-reimport's template.yaml as ${stack.name} (sam deploy)`)];
  }
  const out: DoctorCheck[] = [];
  for (const topic of topics) {
    const arn = topic.physicalId;
    const subscribe = `aws sns subscribe --topic-arn ${arn} --protocol email --notification-endpoint <on-call address> (then confirm the e-mail), or deploy with NotificationEmail`;
    try {
      const subscriptions: Subscription[] = [];
      let token: string | undefined;
      do {
        const page = await sns.send(new ListSubscriptionsByTopicCommand({ TopicArn: arn, ...(token ? { NextToken: token } : {}) }));
        subscriptions.push(...(page?.Subscriptions ?? []));
        token = page?.NextToken || undefined;
      } while (token);
      const pending = subscriptions.filter((s) => s.SubscriptionArn === 'PendingConfirmation');
      const confirmed = subscriptions.filter((s) => s.SubscriptionArn !== undefined && s.SubscriptionArn.startsWith('arn:'));
      if (confirmed.length > 0) {
        const by = [...new Set(confirmed.map((s) => s.Protocol ?? '?'))].join(', ');
        out.push(check('topic', arn, 'ok', `has ${confirmed.length} confirmed subscription(s) (${by})${pending.length > 0 ? `, ${pending.length} pending confirmation` : ''}`));
      } else if (pending.length > 0) {
        out.push(
          check(
            'topic',
            arn,
            'fail',
            `has ${pending.length} subscription(s) pending confirmation and none confirmed: outcomes and alarms reach no one`,
            `confirm the subscription (the link in the e-mail AWS sent to ${pending.map((s) => s.Endpoint ?? '?').join(', ')}), or ${subscribe}`,
          ),
        );
      } else {
        out.push(check('topic', arn, 'fail', 'has no subscription: outcomes and alarms reach no one', subscribe));
      }
    } catch (e) {
      out.push(
        awsErrorName(e) === 'NotFoundException' || awsErrorName(e) === 'NotFound'
          ? check('topic', arn, 'fail', 'is in the stack but does not exist (deleted by hand?)', 'deploy the stack again (sam deploy) to recreate it')
          : couldNotCheck('topic', arn, 'ListSubscriptionsByTopic', e, 'sns:ListSubscriptionsByTopic'),
      );
    }
  }
  return out;
}

