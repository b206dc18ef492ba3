/**
 * A real SDK client whose `send` a test watches or interrupts: `before` sees every command before
 * it is sent and may return an error to fail it there (the run "dies" before the call); `after`
 * sees the answer and may return an error instead (the call happened, its answer was lost).
 * Everything else reaches the client (and the endpoint behind it) unchanged.
 */
export interface Interception {
  before?: (command: object) => Error | undefined;
  after?: (command: object, output: unknown) => Error | undefined;
}

export function interceptSend<C extends { send: (...args: never[]) => unknown }>(client: C, hooks: Interception): C {
  return new Proxy(client, {
    get(target, property) {
      if (property === 'send') {
        return async (command: object, ...rest: unknown[]) => {
          const refused = hooks.before?.(command);
          if (refused) throw refused;
          const output = await (target.send as (...a: unknown[]) => Promise<unknown>)(command, ...rest);
          const lost = hooks.after?.(command, output);
          if (lost) throw lost;
          return output;
        };
      }
      const value = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/** The error a run that "stops here" sees: not transient, so nothing retries it. */
export function runStopsHere(): Error {
  return Object.assign(new Error('injected: the run stops here'), { name: 'AccessDeniedException', $fault: 'client' });
}

/** Fails the nth (1-based) command of a class, as if the run died just before it. */
export function stopBeforeNth<C extends { send: (...args: never[]) => unknown }>(client: C, commandClass: abstract new (...args: never[]) => object, nth: number): C {
  let seen = 0;
  return interceptSend(client, { before: (command) => (command instanceof commandClass && ++seen === nth ? runStopsHere() : undefined) });
}
