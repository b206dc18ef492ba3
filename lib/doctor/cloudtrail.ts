/**
 * Does CloudTrail record KMS's write management events in this Region? The deployed service hears
 * of a hand deletion (DeleteImportedKeyMaterial) and of KMS expiring material
 * (DeleteExpiredKeyMaterial) only as CloudTrail events delivered to EventBridge, and the
 * EventBridge guide says a trail that logs management events is needed for them. The KMS expiry
 * event itself is best-effort, so without such a trail an outage waits for the next sweep.
 *
 * DescribeTrails (with shadow trails: a multi-Region trail of another home Region logs here too),
 * then for each trail that covers this Region GetTrailStatus (is it logging?) and GetEventSelectors
 * (does it log write management events, and not exclude kms.amazonaws.com?).
 */
import {
  DescribeTrailsCommand,
  GetEventSelectorsCommand,
  GetTrailStatusCommand,
  type AdvancedEventSelector,
  type CloudTrailClient,
  type EventSelector,
  type Trail,
} from '@aws-sdk/client-cloudtrail';
import { check, couldNotCheck, errorLabel, type DoctorCheck } from './check.js';

const KMS_SOURCE = 'kms.amazonaws.com';
const NAME = 'cloudtrail';

/** Why a basic event selector does not cover KMS write management events, or undefined when it does. */
function basicSelectorGap(selector: EventSelector): string | undefined {
  if (selector.IncludeManagementEvents === false) return 'IncludeManagementEvents is false';
  if (selector.ReadWriteType === 'ReadOnly') return 'ReadWriteType is ReadOnly (DeleteImportedKeyMaterial is a write event)';
  if ((selector.ExcludeManagementEventSources ?? []).includes(KMS_SOURCE)) return `ExcludeManagementEventSources excludes ${KMS_SOURCE}`;
  return undefined;
}

/** Why an advanced event selector does not cover KMS write management events, or undefined when it does. */
function advancedSelectorGap(selector: AdvancedEventSelector): string | undefined {
  const fields = selector.FieldSelectors ?? [];
  const field = (name: string) => fields.find((f) => f.Field === name);
  const category = field('eventCategory');
  if (!category?.Equals?.includes('Management')) return `advanced selector ${selector.Name ?? '(unnamed)'} does not select eventCategory Management`;
  const readOnly = field('readOnly');
  if (readOnly?.Equals?.includes('true') || readOnly?.NotEquals?.includes('false')) return 'it selects read-only events only (readOnly = true)';
  const source = field('eventSource');
  if (source?.Equals !== undefined && !source.Equals.includes(KMS_SOURCE)) return `eventSource is limited to ${source.Equals.join(', ')}`;
  if (source?.NotEquals?.includes(KMS_SOURCE)) return `eventSource excludes ${KMS_SOURCE}`;
  // Prefix and suffix operators on eventSource (StartsWith, EndsWith, NotStartsWith, NotEndsWith) are
  // not evaluated here: `NotStartsWith kms.` drops every KMS event. Only Equals naming KMS and
  // NotEquals of other services are known to keep them, so any other operator is a gap.
  const patterns = (['StartsWith', 'EndsWith', 'NotStartsWith', 'NotEndsWith'] as const).filter((op) => source?.[op] !== undefined && source[op]!.length > 0);
  if (patterns.length > 0) {
    return `eventSource is filtered with ${patterns.map((op) => `${op} ${source![op]!.join(', ')}`).join(' and ')}, which may leave out ${KMS_SOURCE} (doctor trusts only Equals ${KMS_SOURCE} or NotEquals of other services)`;
  }
  return undefined;
}

/** The gap when a trail has no event selector at all: CloudTrail logs no event that matches no selector. */
export const NO_SELECTORS = 'it has no event selector, basic or advanced: CloudTrail logs nothing for it';

/**
 * Whether selectors cover KMS write management events. No selectors at all selects nothing:
 * CloudTrail logs an event only when a selector matches it (a new trail gets a default selector for
 * every management event; GetEventSelectors shows it).
 */
export function selectorsGap(basic: EventSelector[] | undefined, advanced: AdvancedEventSelector[] | undefined): string | undefined {
  const b = basic ?? [];
  const a = advanced ?? [];
  if (b.length === 0 && a.length === 0) return NO_SELECTORS;
  const gaps = [...b.map(basicSelectorGap), ...a.map(advancedSelectorGap)];
  if (gaps.some((g) => g === undefined)) return undefined;
  return gaps.join('; ');
}

/** The trails that log in `region`: those whose home it is, and multi-Region trails from elsewhere. */
function trailsHere(trails: Trail[], region: string): Trail[] {
  return trails.filter((t) => t.HomeRegion === region || t.IsMultiRegionTrail === true);
}

const CREATE_TRAIL =
  'aws cloudtrail create-trail --name kms-reimport-events --s3-bucket-name <a bucket whose policy lets CloudTrail write> --is-multi-region-trail ' +
  '&& aws cloudtrail start-logging --name kms-reimport-events';

export async function checkCloudTrail(cloudtrail: Pick<CloudTrailClient, 'send'>, region: string): Promise<DoctorCheck> {
  const subject = `CloudTrail in ${region}`;
  let trails: Trail[];
  try {
    trails = (await cloudtrail.send(new DescribeTrailsCommand({ includeShadowTrails: true })))?.trailList ?? [];
  } catch (e) {
    return couldNotCheck(NAME, subject, 'DescribeTrails', e, 'cloudtrail:DescribeTrails, cloudtrail:GetTrailStatus and cloudtrail:GetEventSelectors');
  }
  const here = trailsHere(trails, region);
  const consequence =
    'so EventBridge gets no "AWS API Call via CloudTrail" event for DeleteImportedKeyMaterial and the deployed service never hears of a deletion ' +
    '(the KMS expiration event is best-effort); an outage then waits for the next sweep';
  if (here.length === 0) {
    return check(NAME, subject, 'fail', `no trail logs in ${region}, ${consequence}`, CREATE_TRAIL);
  }
  const problems: string[] = [];
  let unreadable = 0;
  // Trails whose answer is odd rather than clearly "not logging" (no selector at all): a warn, as unreadable.
  let doubtful = 0;
  let firstFix: string | undefined;
  for (const trail of here) {
    const id = trail.TrailARN ?? trail.Name ?? '?';
    const label = `${trail.Name ?? id}${trail.IsMultiRegionTrail ? ` (multi-Region, home ${trail.HomeRegion ?? '?'})` : ''}`;
    try {
      const status = await cloudtrail.send(new GetTrailStatusCommand({ Name: id }));
      if (status?.IsLogging !== true) {
        problems.push(`${label} is not logging`);
        firstFix ??= `aws cloudtrail start-logging --name ${id}`;
        continue;
      }
      const selectors = await cloudtrail.send(new GetEventSelectorsCommand({ TrailName: id }));
      const gap = selectorsGap(selectors?.EventSelectors, selectors?.AdvancedEventSelectors);
      if (gap !== undefined) {
        problems.push(`${label} does not log KMS write management events (${gap})`);
        if (gap === NO_SELECTORS) doubtful++;
        firstFix ??= `aws cloudtrail put-event-selectors --trail-name ${id} --event-selectors '[{"ReadWriteType":"All","IncludeManagementEvents":true}]'`;
        continue;
      }
      return check(NAME, subject, 'ok', `trail ${label} is logging KMS write management events in ${region}`);
    } catch (e) {
      problems.push(`${label} could not be read (${errorLabel(e)})`);
      unreadable++;
    }
  }
  if (unreadable > 0 || doubtful > 0) {
    // Some trail here might log KMS write management events: doctor cannot say none does.
    return check(
      NAME,
      subject,
      'warn',
      `whether a trail logs KMS write management events in ${region} could not be told: ${problems.join('; ')}`,
      unreadable > 0
        ? 'grant cloudtrail:GetTrailStatus and cloudtrail:GetEventSelectors to the identity running doctor, then run it again'
        : (firstFix ?? CREATE_TRAIL),
    );
  }
  return check(NAME, subject, 'fail', `no trail here logs KMS write management events: ${problems.join('; ')}; ${consequence}`, firstFix ?? CREATE_TRAIL);
}
