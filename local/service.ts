/**
 * The contract between the local endpoint's HTTP server and the emulated services
 * (KMS, Secrets Manager, Resource Groups Tagging). The server owns the wire protocol
 * (awsJson1_1), the signature scope, the controls (clock, latency, quotas, faults, counters)
 * and persistence; a service owns only its own state and operations.
 */

/** Who is calling: taken from the SigV4 `Credential=` scope of the request. */
export interface RequestScope {
  /** 12-digit account: the access key id when it is 12 digits, else DEFAULT_ACCOUNT. */
  account: string;
  /** Region from the signature scope, else DEFAULT_REGION. Different regions are different key spaces. */
  region: string;
}

export const DEFAULT_ACCOUNT = '000000000000';
export const DEFAULT_REGION = 'us-east-1';

/** The endpoint's clock: milliseconds since the epoch, moved forward by tests. */
export interface Clock {
  now(): number;
}

/**
 * An error in the shape AWS returns: `__type` is the exception name the SDK maps to its
 * class (e.g. `NotFoundException`), `status` the HTTP status code.
 */
export class ServiceError extends Error {
  override readonly name = 'ServiceError';
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

export interface OperationContext {
  scope: RequestScope;
  clock: Clock;
}

/** One emulated AWS service, addressed by its X-Amz-Target prefix. */
export interface EmulatedService {
  /** The X-Amz-Target prefix before the dot: `TrentService`, `secretsmanager`, ... */
  readonly targetPrefix: string;
  /** Signing name, as it appears in the SigV4 scope (`kms`, `secretsmanager`, `tagging`). */
  readonly signingName: string;
  /** Operation names this service implements. */
  operations(): string[];
  /**
   * Runs one operation on already-parsed JSON input. Throws ServiceError for every
   * documented failure; any other throw becomes an InternalFailure (500) at the server.
   */
  handle(operation: string, input: Record<string, unknown>, ctx: OperationContext): Promise<unknown>;
  /**
   * What IAM would authorise for this request, when the endpoint enforces identity policies
   * (local/iam/): the resource(s) the operation acts on and the condition keys the service sets
   * (`aws:ResourceTag/*` from the resource, `aws:RequestTag/*`, `kms:EncryptionContext:*`, ...).
   * Called before `handle`, changes nothing. Without it, the request is authorised as the
   * service's action on `*`. An empty list means nothing to authorise before the operation runs
   * (e.g. a KMS key that does not exist: the operation answers NotFoundException).
   */
  authorizationContext?(operation: string, input: Record<string, unknown>, ctx: OperationContext): AuthorizationCheck[] | Promise<AuthorizationCheck[]>;
  /** A JSON-serialisable copy of the whole state, for persistence to a file. */
  snapshot(): unknown;
  /** Replaces the whole state with one produced by snapshot(). */
  restore(state: unknown): void;
}

/** One authorisation IAM makes for a request: an action on a resource, with its condition keys. */
export interface AuthorizationCheck {
  /** `kms:ReEncryptFrom`, `kms:Decrypt` (Secrets Manager's own call), ...; default `<prefix>:<Operation>`. */
  action?: string;
  /** The resource's ARN, or `*` for actions without resource-level permissions. */
  resource: string;
  /** Condition keys the service sets for this request (`aws:ResourceTag/x`, `kms:ViaService`, ...). */
  context?: Record<string, string | string[]>;
  /** The error a denial answers with, when it is not the caller's own AccessDeniedException (e.g. a service's call to KMS on the caller's behalf). */
  deniedAs?: { type: string; message: string };
}

/** A tagged resource, as the Resource Groups Tagging API lists it. */
export interface TaggedResource {
  resourceArn: string;
  tags: Record<string, string>;
}

/** A service whose resources the emulated Resource Groups Tagging API can list (KMS keys, secrets). */
export interface TaggedResourceSource {
  /** The resource type filter string this source answers to, e.g. `kms:key` or `secretsmanager:secret`. */
  readonly resourceType: string;
  /** Every resource of the caller's account and Region, as of `now` (the endpoint clock, ms). */
  taggedResources(scope: RequestScope, now: number): TaggedResource[];
}
