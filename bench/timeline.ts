/**
 * What a run's calls looked like in time, for the table: the calls (as test/support/round-trips.ts
 * records them, on its logical clock) grouped into the round trips made one after another: a call
 * that started before every call of the current group had ended ran beside them.
 * `DescribeKey ∥ ListResourceTags → GetParametersForImport ∥ GetSecretValue → ...`
 */
export interface TimedCall {
  operation: string;
  start: number;
  /** Unset: still in flight (counts as never ended). */
  end?: number | undefined;
}

/** The calls grouped into dependent round trips: each group's calls overlapped in time. */
export function roundTrips(calls: readonly TimedCall[]): TimedCall[][] {
  const groups: TimedCall[][] = [];
  let current: TimedCall[] = [];
  let firstEnd = Number.POSITIVE_INFINITY;
  for (const call of [...calls].sort((a, b) => a.start - b.start)) {
    if (current.length > 0 && call.start >= firstEnd) {
      groups.push(current);
      current = [];
      firstEnd = Number.POSITIVE_INFINITY;
    }
    current.push(call);
    firstEnd = Math.min(firstEnd, call.end ?? Number.POSITIVE_INFINITY);
  }
  if (current.length > 0) groups.push(current);
  return groups;
}

export function describeRoundTrips(groups: readonly TimedCall[][]): string {
  return groups.map((g) => g.map((c) => c.operation).join(' ∥ ')).join(' → ');
}
