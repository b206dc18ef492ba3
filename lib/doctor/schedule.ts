/**
 * The sweep's EventBridge Scheduler schedule (template.yaml: SweepFunction's `Sweep` event,
 * `Type: ScheduleV2`, which SAM turns into an AWS::Scheduler::Schedule). The sweep recovers
 * PendingImport keys, renews before expiry and starts due rotations; a schedule disabled or deleted
 * by hand stops all of that without a sound, so doctor asks Scheduler (GetSchedule) that it is
 * ENABLED and targets the stack's sweep function.
 *
 * CloudFormation's physical ID of an AWS::Scheduler::Schedule is its name (Ref returns the name);
 * the group is not part of it, so it is the default group unless the ID carries one
 * (`group/name`, `group|name`, or a schedule ARN ending in `schedule/group/name`).
 */
import { GetScheduleCommand, type GetScheduleOutput, type SchedulerClient } from '@aws-sdk/client-scheduler';
import { awsErrorName } from '../errors.js';
import { check, couldNotCheck, type DoctorCheck } from './check.js';
import { resourcesOfType, roleArnsOf, type DeployedStack, type StackResource } from './stack.js';

/** The logical ID of the function the sweep schedule must start (template.yaml). */
const SWEEP_FUNCTION = 'SweepFunction';

const SCHEDULE_ARN = /^arn:[^:]+:scheduler:[^:]*:[^:]*:schedule\/([^/]+)\/(.+)$/;
const FUNCTION_ARN = /^arn:[^:]+:lambda:[^:]*:[^:]*:function:([^:]+)/;

/** The schedule's group (undefined: the default group) and name, from its physical ID. */
export function scheduleOf(physicalId: string): { group?: string; name: string } {
  const arn = SCHEDULE_ARN.exec(physicalId);
  if (arn) return arn[1] === 'default' ? { name: arn[2]! } : { group: arn[1]!, name: arn[2]! };
  const at = physicalId.search(/[|/]/);
  if (at > 0) {
    const group = physicalId.slice(0, at);
    const name = physicalId.slice(at + 1);
    return group === 'default' ? { name } : { group, name };
  }
  return { name: physicalId };
}

/** A Lambda function's name from its name or (qualified) ARN. */
function functionName(nameOrArn: string): string {
  return FUNCTION_ARN.exec(nameOrArn)?.[1] ?? nameOrArn;
}

/** The input template.yaml gives the sweep (SweepFunction's Sweep event). */
const SWEEP_INPUT = '{"source": "kms-reimport.schedule", "action": "sweep"}';
const STACK_REGION = /^arn:[^:]+:cloudformation:([^:]+):/;

/** The sweep function's ARN, from its name and the stack's partition, Region and account. */
function sweepArn(stack: DeployedStack, sweep: StackResource | undefined): string {
  if (sweep === undefined) return `<the ARN of the stack's ${SWEEP_FUNCTION}>`;
  if (sweep.physicalId.startsWith('arn:')) return sweep.physicalId;
  const region = STACK_REGION.exec(stack.stackId)?.[1] ?? '<region>';
  return `arn:${stack.partition}:lambda:${region}:${stack.account}:function:${sweep.physicalId}`;
}

/** The role SAM makes for a ScheduleV2 event (logical ID: the schedule's, then `Role`). */
function roleArn(stack: DeployedStack, scheduleLogicalId: string): string {
  const role = roleArnsOf({ ...stack, resources: stack.resources.filter((r) => r.logicalId === `${scheduleLogicalId}Role`) })[0];
  return role ?? `<the ARN of the stack's ${scheduleLogicalId}Role>`;
}

/** Single-quoted for a POSIX shell. */
const quoted = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * The command that enables the schedule as it is: UpdateSchedule replaces the whole definition
 * (fields left out go back to their defaults), so it is given everything GetSchedule returned.
 * A `sam deploy` of an unchanged template would not do it: CloudFormation sees no change.
 */
function enableCommand(schedule: GetScheduleOutput, name: string, group: string | undefined): string {
  const { Arn: _arn, CreationDate: _created, LastModificationDate: _modified, $metadata: _metadata, ...definition } = schedule as GetScheduleOutput & { $metadata?: unknown };
  const input = { ...definition, Name: name, ...(group !== undefined ? { GroupName: group } : {}), State: 'ENABLED' };
  return `aws scheduler update-schedule --cli-input-json ${quoted(JSON.stringify(input))}`;
}

/** Every AWS::Scheduler::Schedule of the stack is ENABLED and starts the stack's sweep function. */
export async function checkSchedules(scheduler: Pick<SchedulerClient, 'send'>, stack: DeployedStack): Promise<DoctorCheck[]> {
  const schedules = resourcesOfType(stack, 'AWS::Scheduler::Schedule');
  if (schedules.length === 0) {
    return [
      check(
        'schedule',
        `stack ${stack.name}`,
        'fail',
        'has no EventBridge Scheduler schedule: nothing sweeps (PendingImport keys are not recovered, materials are not renewed before they expire, due rotations do not start)',
        `deploy kms-reimport's template.yaml as ${stack.name} (sam deploy): SweepFunction's Sweep event creates it`,
      ),
    ];
  }
  const sweep = resourcesOfType(stack, 'AWS::Lambda::Function').find((f) => f.logicalId === SWEEP_FUNCTION);
  const out: DoctorCheck[] = [];
  for (const resource of schedules) {
    const { group, name } = scheduleOf(resource.physicalId);
    const subject = `${group !== undefined ? `${group}/` : ''}${name} (${resource.logicalId})`;
    const groupFlag = group !== undefined ? ` --group-name ${group}` : '';
    let schedule: GetScheduleOutput;
    try {
      schedule = await scheduler.send(new GetScheduleCommand({ Name: name, ...(group !== undefined ? { GroupName: group } : {}) }));
    } catch (e) {
      out.push(
        awsErrorName(e) === 'ResourceNotFoundException'
          ? check(
              'schedule',
              subject,
              'fail',
              'is in the stack but not in EventBridge Scheduler (deleted by hand?): nothing sweeps',
              `recreate it as template.yaml defines it (SweepFunction's Sweep event): aws scheduler create-schedule --name ${name}${groupFlag} ` +
                `--schedule-expression '${stack.parameters.SweepSchedule ?? '<SweepSchedule>'}' --flexible-time-window Mode=OFF ` +
                `--target ${quoted(JSON.stringify({ Arn: sweepArn(stack, sweep), RoleArn: roleArn(stack, resource.logicalId), Input: SWEEP_INPUT }))}; ` +
                'a sam deploy of an unchanged template does not recreate it (CloudFormation sees no change)',
            )
          : couldNotCheck('schedule', subject, 'GetSchedule', e, 'scheduler:GetSchedule'),
      );
      continue;
    }
    const state = schedule?.State ?? 'UNKNOWN';
    const expression = schedule?.ScheduleExpression ?? '?';
    if (state === 'DISABLED') {
      out.push(
        check('schedule', subject, 'fail', `is DISABLED (${expression}): nothing sweeps`, `${enableCommand(schedule, name, group)} (a sam deploy of an unchanged template does not re-enable it)`),
      );
      continue;
    }
    if (state !== 'ENABLED') {
      out.push(check('schedule', subject, 'warn', `is in state ${state}`, `aws scheduler get-schedule --name ${name}${groupFlag}`));
      continue;
    }
    const target = schedule?.Target?.Arn;
    if (sweep === undefined || target === undefined || functionName(target) !== functionName(sweep.physicalId)) {
      out.push(
        check(
          'schedule',
          subject,
          'fail',
          `is ENABLED (${expression}) but targets ${target ?? 'nothing'}, not the stack's sweep function ${sweep !== undefined ? functionName(sweep.physicalId) : `(the stack has no ${SWEEP_FUNCTION})`}: nothing sweeps`,
          `deploy kms-reimport's template.yaml as ${stack.name} (sam deploy); if the target was changed by hand, set it back: aws scheduler get-schedule --name ${name}${groupFlag}, then update-schedule with the sweep function as the target`,
        ),
      );
      continue;
    }
    out.push(check('schedule', subject, 'ok', `is ENABLED (${expression}) and starts ${functionName(target)}`));
  }
  return out;
}
