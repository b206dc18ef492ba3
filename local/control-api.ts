/**
 * The control surface over HTTP, under `/_local/` (JSON in, JSON out). It mirrors
 * `endpoint.controls` and `endpoint.clock` for clients in other processes (the CLI, a shell
 * with curl). Documented in local/README.md.
 */
import type { EndpointClock } from './clock.js';
import type { EndpointControls, InjectedErrorSpec, QuotaPreset, QuotaRule } from './controls.js';
import type { ControlHandler } from './server.js';

export interface ControlApiDeps {
  clock: EndpointClock;
  controls: EndpointControls;
  /** Operations per signing name, for the index page. */
  services: () => Record<string, string[]>;
  /** Writes the state file now; undefined when the endpoint does not persist. */
  save?: () => Promise<void>;
}

type Answer = { status: number; body: unknown };
type Route = (body: Record<string, unknown>) => Promise<Answer> | Answer;

const ok = (body: unknown): Answer => ({ status: 200, body });

function clockView(clock: EndpointClock): Record<string, unknown> {
  const now = clock.now();
  return { now, iso: new Date(now).toISOString(), offsetMs: clock.offsetMs() };
}

function str(body: Record<string, unknown>, field: string): string {
  const value = body[field];
  if (typeof value !== 'string') throw new RangeError(`Control request needs "${field}" as a string`);
  return value;
}

function num(body: Record<string, unknown>, field: string): number {
  const value = body[field];
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new RangeError(`Control request needs "${field}" as a finite number, got ${JSON.stringify(value)}`);
  return value;
}

export function createControlHandler(deps: ControlApiDeps): ControlHandler {
  const { clock, controls } = deps;
  const routes: Record<string, Route> = {
    'GET /_local': () => ok(index()),
    'GET /_local/health': () => ok({ ok: true }),
    'GET /_local/clock': () => ok(clockView(clock)),
    'POST /_local/clock': (body) => {
      const { advanceSeconds, epochMs, iso } = body;
      const given = [advanceSeconds, epochMs, iso].filter((v) => v !== undefined).length;
      if (given !== 1) throw new RangeError('Clock control takes exactly one of "advanceSeconds" (number), "epochMs" (number) or "iso" (date string)');
      // Every check comes before the change: the clock itself refuses, unchanged, to leave
      // MAX_CLOCK_OFFSET_MS of real time, so a refused request never moves it.
      if (advanceSeconds !== undefined) clock.advance(num(body, 'advanceSeconds'));
      else if (epochMs !== undefined) clock.set(num(body, 'epochMs'));
      else {
        const ms = typeof iso === 'string' ? Date.parse(iso) : Number.NaN;
        if (Number.isNaN(ms)) throw new RangeError(`Clock "iso" must be an ISO-8601 date, got ${JSON.stringify(iso)}`);
        clock.set(ms);
      }
      return ok(clockView(clock));
    },
    'GET /_local/latency': () => ok({ latency: controls.getLatency() }),
    // A POST answers what it changed and a count, never the whole table (GET has that).
    'POST /_local/latency': (body) => {
      const operation = str(body, 'operation');
      const ms = num(body, 'ms');
      controls.setLatency(operation, ms);
      return ok({ operation, ms, rules: Object.keys(controls.getLatency()).length });
    },
    'GET /_local/quotas': () => ok({ quotas: controls.getQuotas() }),
    'POST /_local/quotas': (body) => {
      const count = () => Object.keys(controls.getQuotas()).length;
      if (body.preset !== undefined) {
        controls.useQuotaPreset(body.preset as QuotaPreset);
        return ok({ preset: body.preset, rules: count() });
      }
      const operation = str(body, 'operation');
      if (body.remove === true) {
        controls.setQuota(operation, null);
        return ok({ operation, removed: true, rules: count() });
      }
      const rule: QuotaRule = { rate: body.rate as number };
      if (body.burst !== undefined) rule.burst = body.burst as number;
      if (body.shared !== undefined) rule.shared = body.shared as string;
      controls.setQuota(operation, rule);
      return ok({ operation, quota: controls.getQuotas()[operation], rules: count() });
    },
    'GET /_local/faults': () => ok({ faults: controls.getInjectedErrors() }),
    'POST /_local/faults': (body) => {
      const spec: InjectedErrorSpec = { type: body.type as string };
      if (body.status !== undefined) spec.status = body.status as number;
      if (body.message !== undefined) spec.message = body.message as string;
      if (body.count !== undefined) spec.count = body.count as number;
      const operation = str(body, 'operation');
      const added = controls.injectError(operation, spec);
      return ok({ operation, added, queued: controls.injectedErrorCount() });
    },
    'DELETE /_local/faults': (body) => {
      const cleared = controls.clearInjectedErrors(body.operation === undefined ? undefined : str(body, 'operation'));
      return ok({ cleared, queued: controls.injectedErrorCount() });
    },
    'GET /_local/counters': () => ok({ counters: controls.getCounters() }),
    'DELETE /_local/counters': () => {
      controls.resetCounters();
      return ok({ counters: controls.getCounters() });
    },
    'POST /_local/save': async () => {
      if (!deps.save) return { status: 409, body: { __type: 'NotPersisting', message: 'This endpoint was started without a state file (persistPath); nothing to save' } };
      await deps.save();
      return ok({ saved: true });
    },
  };

  function index(): Record<string, unknown> {
    return {
      about: 'kms-reimport local endpoint: control surface (not an AWS API). See local/README.md.',
      services: deps.services(),
      routes: Object.keys(routes),
    };
  }

  return async (method, path, body) => {
    const normalized = path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
    const route = routes[`${method} ${normalized}`];
    if (route) return route(body);
    const known = Object.keys(routes).filter((key) => key.endsWith(` ${normalized}`));
    if (known.length > 0) {
      return { status: 405, body: { __type: 'MethodNotAllowed', message: `${method} ${normalized} is not a control; this path takes: ${known.join(', ')}` } };
    }
    return { status: 404, body: { __type: 'UnknownControl', message: `No control at ${normalized}; GET /_local lists them` } };
  };
}
