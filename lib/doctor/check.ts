/**
 * One line of `kms-reimport doctor`: what was checked, about what, how it stands, and the fix.
 * Checks never throw for what they find: a problem is a `fail` (the deployment would not hear of,
 * or not survive, an outage), a `warn` (it might not, or doctor could not tell) or `ok`.
 */
import { awsErrorName } from '../errors.js';

export type CheckStatus = 'ok' | 'warn' | 'fail';

export interface DoctorCheck {
  /** What is checked: `cloudtrail`, `stack`, `rule`, `schedule`, `state-machine`, `topic`, `escrow`, `key-policy`, `expiry`, `quota`. */
  check: string;
  /** What it is about: a trail, rule, topic, key ID, the stack, the account and Region. */
  subject: string;
  status: CheckStatus;
  message: string;
  /** The next step, as a command where there is one. Absent when nothing is to be done. */
  fix?: string;
}

export function check(check: string, subject: string, status: CheckStatus, message: string, fix?: string): DoctorCheck {
  return { check, subject, status, message, ...(fix !== undefined ? { fix } : {}) };
}

/** The error's AWS name (or JavaScript name), for a message; never the request or its values. */
export function errorLabel(e: unknown): string {
  return awsErrorName(e) ?? (e instanceof Error ? e.name : 'an unknown error');
}

const DENIED = new Set(['AccessDeniedException', 'AccessDenied', 'UnauthorizedOperation', 'AuthorizationError', 'AuthorizationErrorException']);

export function isAccessDenied(e: unknown): boolean {
  return DENIED.has(awsErrorName(e) ?? '');
}

/** The check that says a call failed, so the answer is unknown: a `warn`, with what to grant when it was denied. */
export function couldNotCheck(name: string, subject: string, operation: string, e: unknown, permission: string): DoctorCheck {
  const denied = isAccessDenied(e);
  return check(
    name,
    subject,
    'warn',
    `could not be checked: ${operation} failed with ${errorLabel(e)}`,
    denied ? `grant ${permission} to the identity running doctor, then run it again` : `check the endpoint, Region and credentials (${operation}), then run doctor again`,
  );
}

export function worstStatus(checks: readonly DoctorCheck[]): CheckStatus {
  if (checks.some((c) => c.status === 'fail')) return 'fail';
  if (checks.some((c) => c.status === 'warn')) return 'warn';
  return 'ok';
}
