/**
 * Publishing outcomes: an injected `publish(outcome)` so the Report step is testable without SNS;
 * `snsPublisher` is the real one (SNS topic from the template).
 */
import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import type { Outcome } from '../types.js';

export type PublishOutcome = (outcome: Outcome) => Promise<void>;

/** The SNS subject: at most 100 printable ASCII characters. */
export function outcomeSubject(outcome: Outcome): string {
  const subject = `kms-reimport ${outcome.status}: ${outcome.keyId} (${outcome.action})`.replace(/[^\x20-\x7e]/g, '?');
  return subject.length > 100 ? `${subject.slice(0, 97)}...` : subject;
}

export function snsPublisher(sns: Pick<SNSClient, 'send'>, topicArn: string): PublishOutcome {
  return async (outcome) => {
    await sns.send(
      new PublishCommand({
        TopicArn: topicArn,
        Subject: outcomeSubject(outcome),
        Message: JSON.stringify(outcome, null, 2),
        MessageAttributes: {
          status: { DataType: 'String', StringValue: outcome.status },
          keyId: { DataType: 'String', StringValue: outcome.keyId },
          action: { DataType: 'String', StringValue: outcome.action },
        },
      }),
    );
  };
}

/** The CloudWatch metric an outcome counts towards: Recovered, Renewed, Rotated, Skipped, Failed, Planned. */
export function outcomeMetricName(status: Outcome['status']): string {
  return status.charAt(0).toUpperCase() + status.slice(1);
}
