/**
 * Counting AWS calls per operation for one run: a thin view of a client whose `send` counts, then
 * delegates to the real client's current `send` (so it also counts under aws-sdk-client-mock,
 * which replaces `send`). Every attempt counts, retries included.
 */

/** The operation name of an SDK v3 command (minification-proof: read from its schema when present). */
export function operationName(command: unknown): string {
  const c = command as { schema?: unknown; constructor?: { name?: string } } | null;
  if (Array.isArray(c?.schema) && typeof c.schema[2] === 'string') return c.schema[2];
  const name = c?.constructor?.name;
  return name ? name.replace(/Command$/, '') : 'Unknown';
}

export function countCalls<C extends object>(client: C, counts: Record<string, number>): C {
  return new Proxy(client, {
    get(target, property) {
      if (property === 'send') {
        return (command: unknown, ...rest: unknown[]) => {
          const op = operationName(command);
          counts[op] = (counts[op] ?? 0) + 1;
          return (target as unknown as { send: (...a: unknown[]) => unknown }).send(command, ...rest);
        };
      }
      const value = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
