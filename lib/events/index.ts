export { EventRejected, isEventRejected, type RejectionCode } from './rejected.js';
export { parseKeyRef, keyIdOf, isKeyId, type ParsedKeyRef } from './key-ref.js';
export {
  MANUAL_DETAIL_TYPE,
  MANUAL_SOURCE,
  SWEEP_DETAIL_TYPE,
  SWEEP_SOURCE,
  type WorkAction,
  type WorkItem,
} from './work-item.js';
export {
  normaliseEvent,
  parseEnvelope,
  KMS_SOURCE,
  KMS_EXPIRATION_DETAIL_TYPE,
  CLOUDTRAIL_API_CALL_DETAIL_TYPE,
  CLOUDTRAIL_SERVICE_EVENT_DETAIL_TYPE,
  type NormaliseOptions,
  type EventEnvelope,
} from './normalise.js';
export {
  executionName,
  executionInput,
  timeBucket,
  keyNamePart,
  EXECUTION_NAME_MAX,
  DEFAULT_BUCKET_MINUTES,
  type ExecutionNameOptions,
} from './execution-name.js';
export { parseSweepRequest, SCHEDULE_SOURCE, type SweepRequest } from './sweep-request.js';
