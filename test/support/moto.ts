/**
 * moto_server (Python moto, on PATH from the image) on 127.0.0.1 and a free port, for tests that
 * cross-check against an independent emulation of AWS services the local endpoint does not serve
 * (CloudTrail, CloudFormation, SNS, EventBridge, Step Functions, Service Quotas).
 * `motoSkip` is a skip reason when moto_server is absent and CI is unset; in CI a missing
 * moto_server fails the test instead of skipping it.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

const present = spawnSync('moto_server', ['--help'], { stdio: 'ignore' }).status === 0;
export const motoSkip: string | false = !present && !process.env.CI ? 'moto_server is not on PATH (pip install "moto[server]" to run this cross-check)' : false;

export interface Moto {
  url: string;
  /** Client settings for moto: its URL, a Region, moto's fixed test credentials. */
  clientConfig: { endpoint: string; region: string; credentials: { accessKeyId: string; secretAccessKey: string } };
  stop: () => Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function waitFor(url: string, child: ChildProcess): Promise<void> {
  for (let attempt = 0; attempt < 600; attempt++) {
    if (child.exitCode !== null) throw new Error(`moto_server exited with code ${child.exitCode} before answering`);
    try {
      await fetch(`${url}/moto-api/`);
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  throw new Error(`moto_server did not answer at ${url} within a minute`);
}

export async function startMoto(region = 'us-east-1'): Promise<Moto> {
  const port = await freePort();
  const child = spawn('moto_server', ['-H', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
  const url = `http://127.0.0.1:${port}`;
  await waitFor(url, child);
  return {
    url,
    clientConfig: { endpoint: url, region, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } },
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Creates an S3 bucket in moto (no S3 client in this project: one path-style PUT). */
export async function createMotoBucket(moto: Moto, bucket: string): Promise<void> {
  const response = await fetch(`${moto.url}/${bucket}`, { method: 'PUT' });
  if (!response.ok) throw new Error(`moto refused to create bucket ${bucket}: HTTP ${response.status}`);
}

/**
 * A stack shaped like the deployed kms-reimport stack, for moto: the resource types doctor and the
 * drill read (SNS topic, IAM role, EventBridge rule, Step Functions state machine) and the
 * parameters they use, nothing else (moto cannot run the SAM transform or the Lambdas).
 */
export const STAND_IN_STACK_TEMPLATE = {
  Parameters: { RenewalWindowDays: { Type: 'Number', Default: 14 }, SweepSchedule: { Type: 'String', Default: 'rate(6 hours)' } },
  Resources: {
    OutcomeTopic: { Type: 'AWS::SNS::Topic', Properties: {} },
    WorkflowRole: {
      Type: 'AWS::IAM::Role',
      Properties: { AssumeRolePolicyDocument: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: 'states.amazonaws.com' }, Action: 'sts:AssumeRole' }] } },
    },
    MaterialDeletedRule: {
      Type: 'AWS::Events::Rule',
      Properties: {
        State: 'ENABLED',
        EventPattern: { source: ['aws.kms'], 'detail-type': ['AWS API Call via CloudTrail'], detail: { eventName: ['DeleteImportedKeyMaterial'] } },
        // doctor fails an enabled rule with no target (it would start nothing).
        Targets: [{ Id: 'Recovery', Arn: { Ref: 'RecoveryStateMachine' }, RoleArn: { 'Fn::GetAtt': ['WorkflowRole', 'Arn'] } }],
      },
    },
    RecoveryStateMachine: {
      Type: 'AWS::StepFunctions::StateMachine',
      Properties: { RoleArn: { 'Fn::GetAtt': ['WorkflowRole', 'Arn'] }, DefinitionString: JSON.stringify({ StartAt: 'Report', States: { Report: { Type: 'Pass', End: true } } }) },
    },
  },
};

export interface StandInDeployment {
  stackName: string;
  topicArn: string;
  ruleName: string;
  stateMachineArn: string;
}

/**
 * A healthy stand-in deployment in moto: the stand-in stack, a multi-Region trail that is logging
 * (its bucket too), and a confirmed e-mail subscription on the topic (moto confirms at once).
 */
export async function deployStandIn(moto: Moto, stackName: string): Promise<StandInDeployment> {
  const { CloudFormationClient, CreateStackCommand, DescribeStackResourcesCommand } = await import('@aws-sdk/client-cloudformation');
  const { CloudTrailClient, CreateTrailCommand, PutEventSelectorsCommand, StartLoggingCommand } = await import('@aws-sdk/client-cloudtrail');
  const { SNSClient, SubscribeCommand } = await import('@aws-sdk/client-sns');
  const cfn = new CloudFormationClient(moto.clientConfig);
  const cloudtrail = new CloudTrailClient(moto.clientConfig);
  const sns = new SNSClient(moto.clientConfig);
  try {
    await cfn.send(new CreateStackCommand({ StackName: stackName, TemplateBody: JSON.stringify(STAND_IN_STACK_TEMPLATE) }));
    const resources = (await cfn.send(new DescribeStackResourcesCommand({ StackName: stackName }))).StackResources ?? [];
    const physical = (type: string) => resources.find((r) => r.ResourceType === type)!.PhysicalResourceId!;
    const bucket = `trail-${stackName.toLowerCase()}`;
    await createMotoBucket(moto, bucket);
    await cloudtrail.send(new CreateTrailCommand({ Name: `${stackName}-trail`, S3BucketName: bucket, IsMultiRegionTrail: true }));
    // AWS gives a new trail a default selector (every management event); moto gives none, which logs nothing.
    await cloudtrail.send(new PutEventSelectorsCommand({ TrailName: `${stackName}-trail`, EventSelectors: [{ ReadWriteType: 'All', IncludeManagementEvents: true }] }));
    await cloudtrail.send(new StartLoggingCommand({ Name: `${stackName}-trail` }));
    const topicArn = physical('AWS::SNS::Topic');
    await sns.send(new SubscribeCommand({ TopicArn: topicArn, Protocol: 'email', Endpoint: 'oncall@example.com' }));
    return { stackName, topicArn, ruleName: physical('AWS::Events::Rule'), stateMachineArn: physical('AWS::StepFunctions::StateMachine') };
  } finally {
    cfn.destroy();
    cloudtrail.destroy();
    sns.destroy();
  }
}
