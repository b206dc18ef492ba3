/**
 * The per-key lease: one run per key at a time, whatever started it (event, sweep, schedule,
 * CLI). A lease is one DynamoDB item per key, keyed by the key's ARN, written with a conditional
 * PutItem that succeeds only when no lease exists, the existing one has expired, or it is already
 * ours; released with a DeleteItem conditional on the owner. The state machine takes the SAME
 * lease with its own DynamoDB integration (statemachine/recovery.asl.json: LeaseTerms,
 * AcquireLease, ReadLeaseHolder, ReleaseLease), with the same attribute names and the same
 * numbers, exported here and checked against the ASL by test/unit/asl.test.ts.
 *
 * Expiry is decided by the condition (expiresAt < now), not by DynamoDB's TTL: TTL only removes
 * lapsed items some time later (typically within days), so a lapsed lease is reclaimable at once.
 */
import {
  DeleteItemCommand,
  GetItemCommand,
  PutItemCommand,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { awsErrorName, LeaseTaken, LeaseUnavailable } from '../errors.js';

/** Partition key of the lease table: the key's ARN (an alias or a bare key ID could name one key twice). */
export const LEASE_KEY_ATTRIBUTE = 'keyArn';
/** Who holds the lease: a Step Functions execution ARN, or `cli:<host>:<pid>:<uuid>` for a CLI run. */
export const LEASE_OWNER_ATTRIBUTE = 'owner';
/** When the lease lapses, in epoch seconds (a Number): the condition's clock and the table's TTL attribute. */
export const LEASE_EXPIRES_ATTRIBUTE = 'expiresAt';
/**
 * How long a lease lasts: the state machine's TimeoutSeconds, so that no execution outlives the
 * lease it took (a run takes its lease after its first Inspect). A run that dies (stopped
 * execution, killed CLI) leaves its lease until then; see docs/deploy.md for clearing it by hand.
 */
export const LEASE_SECONDS = 3600;
/**
 * The state machine's lease outlives its execution by this much (expiresAt = the execution's start
 * + LEASE_SECONDS + this): a Lambda task still running when the execution times out (60 s at most)
 * finishes before another run can take the key.
 */
export const LEASE_MARGIN_SECONDS = 300;
/** A run that finds the lease taken waits this long before it re-inspects the key. */
export const LEASE_WAIT_SECONDS = 20;
/** Attempts to take a taken lease, each after a wait and a re-inspection; then the run ends skipped. */
export const LEASE_ATTEMPTS = 5;

/** The condition every acquisition uses (the ASL's AcquireLease has the same text). */
export const ACQUIRE_CONDITION = `attribute_not_exists(${LEASE_KEY_ATTRIBUTE}) OR ${LEASE_EXPIRES_ATTRIBUTE} < :now OR #owner = :owner`;
/** The condition a release uses: only the owner releases. */
export const RELEASE_CONDITION = '#owner = :owner';

export interface HeldLease {
  keyArn: string;
  owner: string;
  /** ISO time the lease lapses. */
  expiresAt: string;
}

export interface LeaseHolder {
  owner: string;
  expiresAt: string;
}

/** What recoverKey needs from a lease; the DynamoDB implementation is below, tests use it against dynalite. */
export interface KeyLease {
  /** Where the lease lives, for messages (a table name). */
  readonly where: string;
  /** Takes the lease for `keyArn`, or throws LeaseTaken naming the holder (LeaseUnavailable if the table cannot be used). */
  acquire(keyArn: string, owner: string): Promise<HeldLease>;
  /** Gives the lease up; false if it was not (or no longer) ours. Never throws for a lease that lapsed. */
  release(lease: HeldLease): Promise<boolean>;
  /** Who holds the lease now, if anyone (an expired lease is nobody's). */
  holder(keyArn: string): Promise<LeaseHolder | undefined>;
}

export interface DynamoDbKeyLeaseOptions {
  client: Pick<DynamoDBClient, 'send'>;
  tableName: string;
  /** Injected for tests: the clock the expiry is computed from (default: now). */
  now?: () => Date;
  seconds?: number;
}

/** Conditional puts before a lease that keeps changing hands counts as taken. */
const LEASE_PUT_TRIES = 3;
const epochSeconds = (d: Date) => Math.floor(d.getTime() / 1000);
const isConditionFailure = (e: unknown) => awsErrorName(e) === 'ConditionalCheckFailedException';

export class DynamoDbKeyLease implements KeyLease {
  readonly where: string;
  private readonly client: Pick<DynamoDBClient, 'send'>;
  private readonly tableName: string;
  private readonly now: () => Date;
  private readonly seconds: number;

  constructor(options: DynamoDbKeyLeaseOptions) {
    this.client = options.client;
    this.tableName = options.tableName;
    this.where = `lease table ${options.tableName}`;
    this.now = options.now ?? (() => new Date());
    this.seconds = options.seconds ?? LEASE_SECONDS;
  }

  async acquire(keyArn: string, owner: string): Promise<HeldLease> {
    // A lease released between our PutItem and our read of the holder: try again (bounded).
    for (let tries = 0; tries < LEASE_PUT_TRIES; tries++) {
      const now = epochSeconds(this.now());
      const expiresAt = now + this.seconds;
      try {
        await this.client.send(
          new PutItemCommand({
            TableName: this.tableName,
            Item: {
              [LEASE_KEY_ATTRIBUTE]: { S: keyArn },
              [LEASE_OWNER_ATTRIBUTE]: { S: owner },
              [LEASE_EXPIRES_ATTRIBUTE]: { N: String(expiresAt) },
            },
            ConditionExpression: ACQUIRE_CONDITION,
            ExpressionAttributeNames: { '#owner': LEASE_OWNER_ATTRIBUTE },
            ExpressionAttributeValues: { ':now': { N: String(now) }, ':owner': { S: owner } },
          }),
        );
        return { keyArn, owner, expiresAt: new Date(expiresAt * 1000).toISOString() };
      } catch (e) {
        if (!isConditionFailure(e)) throw this.unavailable(e, keyArn, 'take', 'nothing was imported by this run');
      }
      const holder = await this.holder(keyArn);
      if (holder) {
        throw new LeaseTaken(
          `Key ${keyArn} is being worked on by ${holder.owner}, which holds its lease in ${this.where} until ${holder.expiresAt}; ` +
            `this run did not import, so that the key is never imported twice at once. Nothing to do if that run finishes ` +
            `(see its outcome); if it is gone, the lease lapses by itself at ${holder.expiresAt}, or delete the item with ` +
            `${LEASE_KEY_ATTRIBUTE} = ${keyArn} from the table by hand (docs/deploy.md), then start a new run.`,
          { keyId: keyArn, holder: holder.owner, expiresAt: holder.expiresAt },
        );
      }
    }
    // Other runs took and released it each time we looked: they are working on this key right now.
    // That is "taken" (wait, inspect again), as the state machine's LeaseHolderGone is, not a failure.
    throw new LeaseTaken(
      `Key ${keyArn}: its lease in ${this.where} was taken and released by other runs each of the ${LEASE_PUT_TRIES} times this run ` +
        `tried to take it (they are working on this key now); this run did not import, so that the key is never imported twice at once.`,
      { keyId: keyArn, holder: 'runs that took and released the lease while this run tried to take it' },
    );
  }

  async release(lease: HeldLease): Promise<boolean> {
    try {
      await this.client.send(
        new DeleteItemCommand({
          TableName: this.tableName,
          Key: { [LEASE_KEY_ATTRIBUTE]: { S: lease.keyArn } },
          ConditionExpression: RELEASE_CONDITION,
          ExpressionAttributeNames: { '#owner': LEASE_OWNER_ATTRIBUTE },
          ExpressionAttributeValues: { ':owner': { S: lease.owner } },
        }),
      );
      return true;
    } catch (e) {
      if (isConditionFailure(e)) return false;
      throw this.unavailable(e, lease.keyArn, 'release', `the lease stays until it lapses at ${lease.expiresAt}`);
    }
  }

  async holder(keyArn: string): Promise<LeaseHolder | undefined> {
    let item;
    try {
      ({ Item: item } = await this.client.send(
        new GetItemCommand({ TableName: this.tableName, Key: { [LEASE_KEY_ATTRIBUTE]: { S: keyArn } }, ConsistentRead: true }),
      ));
    } catch (e) {
      throw this.unavailable(e, keyArn, 'read', 'nothing was imported by this run');
    }
    const owner = item?.[LEASE_OWNER_ATTRIBUTE]?.S;
    const expires = Number(item?.[LEASE_EXPIRES_ATTRIBUTE]?.N);
    // The same comparison as the acquire condition (expiresAt < :now): at the boundary second the lease still holds.
    if (!owner || !Number.isFinite(expires) || expires < epochSeconds(this.now())) return undefined;
    return { owner, expiresAt: new Date(expires * 1000).toISOString() };
  }

  private unavailable(e: unknown, keyArn: string, verb: string, consequence: string): LeaseUnavailable {
    const name = awsErrorName(e) ?? 'Error';
    // Named only: a message from an unexpected answer could quote anything.
    return new LeaseUnavailable(
      `Key ${keyArn}: could not ${verb} its lease in ${this.where} (${name}); ${consequence}. Check that the table ` +
        `exists in this account and Region and that this identity may dynamodb:PutItem, GetItem and DeleteItem on it, then start the run again.`,
      { keyId: keyArn, cause: e },
    );
  }
}
