/**
 * Properties of the command line (cli/program.ts buildProgram(), which uses exitOverride) over
 * generated argument vectors: real command and flag names in any order and number, values that
 * fit and values that do not, and arbitrary words.
 *
 * 1. Parsing, in process (10,000 vectors): every vector either reaches a command's action (stopped
 *    there by a test hook: nothing runs), or ends in a CommanderError that is --help/--version
 *    (exit 0) or bad usage (a commander code, which cli/main.ts turns into exit 2, or a
 *    kms-reimport code with exit code 2), or a ConfigError (a China Region: exit 2). Nothing else
 *    is thrown, and no AWS endpoint is called.
 * 2. Running, in process (400 vectors over the one-key and fleet commands): the action runs for
 *    real against a tripwire endpoint that answers every AWS request AccessDenied and counts it.
 *    A vector refused as bad usage (exit 2) called nothing; anything else ends with an exit code
 *    of 0, 1, 2 or 3 and at most a named error; output never holds a stack trace.
 * 3. Whole processes (a sample of the bad-usage vectors): `bin/kms-reimport.js` exits 2 and calls
 *    nothing.
 *
 * The CLI's output with real material behind it (status, plan, recover against an endpoint holding
 * escrow) is searched for material in faults.test.ts's leak scan; here no material exists.
 *
 * Not run as actions: `local` (starts a server and waits), `drill` (starts one, or acts on an
 * account), `onboard` (reads material from stdin or files), `doctor` (CloudFormation, XML):
 * their parsing is covered by property 1.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { Command, CommanderError } from 'commander';
import { buildProgram } from '../../cli/program.js';
import { ConfigError } from '../../lib/errors.js';
import { listenLocally, readBody } from '../support/http.js';
import { isNamedError, propertyParameters, runs, scenario } from './support.js';

const FILE = import.meta.url;
const BIN = fileURLToPath(new URL('../../bin/kms-reimport.js', import.meta.url));

// ------------------------------------------------------------------ the tripwire: every AWS request is counted and refused
let tripwire: { url: string; calls: number; callsBy: (accessKey: string) => number; close: () => Promise<void> };
const savedEnv = { ...process.env };
before(async () => {
  let calls = 0;
  // Calls per access key: each run gets its own (AWS_ACCESS_KEY_ID), so that a call still in flight
  // from an earlier run (which failed fast, leaving its other calls going) is never counted as this run's.
  const byKey = new Map<string, number>();
  const server = createServer((req, res) => {
    void readBody(req).then(() => {
      calls++;
      const accessKey = /Credential=([^/]+)\//.exec(String(req.headers.authorization ?? ''))?.[1] ?? 'unsigned';
      byKey.set(accessKey, (byKey.get(accessKey) ?? 0) + 1);
      res.writeHead(400, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-errortype': 'AccessDeniedException' });
      res.end(JSON.stringify({ __type: 'AccessDeniedException', message: 'tripwire: the reliability suite refuses every AWS call' }));
    });
  });
  const url = await listenLocally(server);
  tripwire = {
    url,
    get calls() {
      return calls;
    },
    callsBy: (accessKey) => byKey.get(accessKey) ?? 0,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
  Object.assign(process.env, {
    AWS_ENDPOINT_URL: url,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'AKIDRELIABILITY',
    AWS_SECRET_ACCESS_KEY: 'reliability',
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    KMS_REIMPORT_MAX_ATTEMPTS: '1',
    KMS_REIMPORT_BASE_DELAY_MS: '1',
    KMS_REIMPORT_LEASE_WAIT_SECONDS: '0',
    KMS_REIMPORT_PARAMETERS_INTERVAL_MS: '0',
  });
  delete process.env.AWS_PROFILE;
  delete process.env.KMS_REIMPORT_LEASE_TABLE;
});
after(async () => {
  for (const k of Object.keys(process.env)) if (!(k in savedEnv)) delete process.env[k];
  Object.assign(process.env, savedEnv);
  await tripwire.close();
});

// ------------------------------------------------------------------ the vocabulary, read from the program itself
function commandsOf(program: Command): Command[] {
  return program.commands.flatMap((c) => [c, ...commandsOf(c)]);
}
const PROGRAM = buildProgram();
const COMMANDS = commandsOf(PROGRAM);
const FLAGS = [...new Set(COMMANDS.flatMap((c) => c.options.flatMap((o) => [o.long, o.short].filter((f): f is string => typeof f === 'string'))))];

const values = fc.oneof(
  fc.constantFrom(
    '1234abcd-12ab-34cd-56ef-1234567890ab',
    'alias/payments',
    'arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab',
    'arn:aws:kms:cn-north-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab',
    'us-east-1',
    'cn-north-1',
    'eusc-de-east-1',
    'json',
    'table',
    'yaml',
    'in-place',
    'alias-swap',
    'auto',
    'rotate',
    'SYMMETRIC_DEFAULT',
    'RSA_4096',
    '0',
    '-1',
    '65536',
    '1e3',
    'NaN',
    '',
    ' ',
    '-',
    '--',
    '=',
    'http://127.0.0.1:1',
    'not a url',
    'Name=Value',
    '/nonexistent/file',
    '__proto__',
    'constructor',
  ),
  fc.string({ maxLength: 30 }),
  fc.integer().map(String),
);

const word = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...FLAGS) },
  { weight: 1, arbitrary: fc.constantFrom(...FLAGS).chain((f) => values.map((v) => (f.startsWith('--') ? `${f}=${v}` : `${f}${v}`))) },
  { weight: 3, arbitrary: values },
  { weight: 1, arbitrary: fc.constantFrom('--help', '-h', 'help', '--version', '-V', '--unknown', '-x', '--no-such-flag', '--json=false') },
  { weight: 1, arbitrary: fc.constantFrom(...COMMANDS.map((c) => c.name()), 'recovr', 'RECOVER', 'help') },
);

const argv = (commands: string[]) =>
  fc.oneof(
    { weight: 8, arbitrary: fc.tuple(fc.constantFrom(...commands), fc.array(word, { maxLength: 7 })).map(([c, rest]) => [c, ...rest]) },
    { weight: 1, arbitrary: fc.array(word, { maxLength: 6 }) },
    { weight: 1, arbitrary: fc.array(fc.string({ maxLength: 12 }), { maxLength: 4 }) },
  );

/** Vectors most of which parse: a command, usually a key, then some of its own flags with values that fit (or not). */
const fitting = (commands: string[]) =>
  fc.constantFrom(...commands).chain((name) => {
    const command = COMMANDS.find((c) => c.name() === name)!;
    const flag = fc.constantFrom(...command.options).chain((o) => {
      const long = o.long ?? o.short ?? '--json';
      if (!/[<[]/.test(o.flags)) return fc.constant<string[]>([long]);
      const choices = (o as { argChoices?: string[] }).argChoices;
      return (choices ? fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...choices) }, { weight: 1, arbitrary: values }) : values).map((v): string[] => [long, v]);
    });
    const key = fc.oneof(
      { weight: 4, arbitrary: fc.constantFrom('1234abcd-12ab-34cd-56ef-1234567890ab', 'alias/payments', 'arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab') },
      { weight: 1, arbitrary: values },
    );
    const hasKey = command.registeredArguments.length > 0;
    return fc.tuple(hasKey ? fc.option(key, { freq: 5 }) : fc.constant(null), fc.array(flag, { maxLength: 3 })).map(([k, flags]) => [name, ...(k === null ? [] : [k]), ...flags.flat()]);
  });

// ------------------------------------------------------------------ running one vector in process
class ReachedAction extends Error {
  constructor(readonly command: string) {
    super(`reached ${command}`);
  }
}

const HELP_CODES = new Set(['commander.helpDisplayed', 'commander.help', 'commander.version']);

interface Ran {
  thrown?: unknown;
  exitCode: number;
  out: string;
}

/** The exit code cli/main.ts gives what parseAsync ended with (checked against real processes in property 3). */
function exitCodeFor(thrown: unknown, actionExitCode: number | undefined): number {
  if (thrown === undefined) return actionExitCode ?? 0;
  if (thrown instanceof CommanderError) return thrown.exitCode === 0 ? 0 : thrown.code.startsWith('commander.') ? 2 : thrown.exitCode;
  if (thrown instanceof ConfigError) return 2;
  return 1;
}

/**
 * Parses (and, unless `stopAt` says otherwise, runs) one vector with every output captured:
 * commander's own (configureOutput on every command) and whatever the action prints.
 */
async function runVector(args: string[], stopAt: (command: string) => boolean): Promise<Ran> {
  const program = buildProgram();
  const chunks: string[] = [];
  for (const c of [program, ...commandsOf(program)]) {
    c.configureOutput({ writeOut: (s) => void chunks.push(s), writeErr: (s) => void chunks.push(s), outputError: (s) => void chunks.push(s) });
  }
  program.hook('preAction', (_p, action) => {
    if (stopAt(action.name())) throw new ReachedAction(action.name());
  });
  const write = { err: process.stderr.write, log: console.log, error: console.error, warn: console.warn };
  const capture = ((chunk: unknown) => {
    chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8'));
    return true;
  }) as typeof process.stdout.write;
  // stdout is left alone: the test runner reports through it (the CLI prints results with console.log).
  process.stderr.write = capture;
  console.log = console.error = console.warn = (...a: unknown[]) => void chunks.push(a.map(String).join(' '));
  const exitCodeBefore = process.exitCode;
  process.exitCode = undefined;
  let thrown: unknown;
  try {
    await program.parseAsync(['node', 'kms-reimport', ...args]);
  } catch (e) {
    thrown = e;
  } finally {
    process.stderr.write = write.err;
    console.log = write.log;
    console.error = write.error;
    console.warn = write.warn;
  }
  const actionExitCode = typeof process.exitCode === 'number' ? process.exitCode : undefined;
  process.exitCode = exitCodeBefore;
  const out = chunks.join('');
  return { ...(thrown !== undefined ? { thrown } : {}), exitCode: exitCodeFor(thrown instanceof ReachedAction ? undefined : thrown, actionExitCode), out };
}

/** The CLI's own named errors (not lib's): the deployed service could not be followed (cli/via-stack.ts). */
const CLI_ERRORS = new Set(['DeployedServiceUnavailable']);
const describeName = (e: unknown): string => (e instanceof Error && e.constructor !== Error ? e.name : '');

function describeThrown(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message.split('\n')[0]}` : String(e);
}

// ------------------------------------------------------------------ the properties
const usageVectors: string[][] = [];

describe('the command line', () => {
  test(`parsing: ${runs(10_000)} generated argument vectors: an action, help, bad usage (exit 2) or ConfigError; nothing called`, async () => {
    // 10,000 by default: each case builds the whole program (every command and option) afresh (about 5 s here).
    await scenario(FILE, 'properties', 'CLI argument vectors (parsing): only CommanderError (help 0, bad usage 2) or a named error, no AWS call', async () => {
      const tally = { action: 0, help: 0, usage: 0, config: 0 };
      await fc.assert(
        fc.asyncProperty(argv(COMMANDS.map((c) => c.name())), async (args) => {
          const callsBefore = tripwire.calls;
          const ran = await runVector(args, () => true);
          await new Promise((resolve) => setImmediate(resolve));
          assert.equal(tripwire.calls, callsBefore, `parsing ${JSON.stringify(args)} calls no AWS endpoint`);
          const e = ran.thrown;
          if (e instanceof ReachedAction) tally.action++;
          else if (e instanceof CommanderError && e.exitCode === 0) {
            assert.ok(HELP_CODES.has(e.code), `exit 0 only for help and version, got ${e.code}`);
            tally.help++;
          } else if (e instanceof CommanderError) {
            assert.ok(e.code.startsWith('commander.') || (e.code.startsWith('kms-reimport.') && e.exitCode === 2), `a usage error with code ${e.code} and exit ${e.exitCode}`);
            assert.equal(ran.exitCode, 2);
            assert.ok(ran.out.trim().length > 0, 'bad usage says what is wrong');
            tally.usage++;
            if (usageVectors.length < 200) usageVectors.push(args);
          } else if (e instanceof ConfigError) {
            assert.equal(ran.exitCode, 2);
            tally.config++;
          } else {
            assert.fail(`parsing ${JSON.stringify(args)} threw ${describeThrown(e)}`);
          }
        }),
        // Kept from earlier failures: no argument at all (help on stderr, exit 2, not 0).
        { ...propertyParameters(runs(10_000)), examples: [[[]], [['recover', '--region', 'cn-north-1', 'alias/x']], [['rotate', 'alias/x']]] },
      );
      assert.ok(tally.action > 0 && tally.usage > 0 && tally.help > 0 && tally.config > 0, JSON.stringify(tally));
      return `${runs(10_000)} generated vectors: ${tally.action} reached an action, ${tally.help} help/version (exit 0), ${tally.usage} bad usage (exit 2), ${tally.config} ConfigError (exit 2); no AWS call`;
    });
  });

  const RUNNABLE = ['recover', 'renew', 'plan', 'rotate', 'status', 'sweep'];
  test(`running: ${runs(400)} generated vectors over ${RUNNABLE.join(', ')} against a tripwire endpoint: bad usage calls nothing; named errors only`, async () => {
    // 400 by default: each case that gets past parsing runs the command for real (SDK clients, calls refused by the tripwire).
    await scenario(FILE, 'properties', 'CLI argument vectors (running the command): bad usage exits 2 having called nothing; otherwise exit 0-3 and named errors only', async () => {
      let runNumber = 0;
      const tally = { usage: 0, ran: 0, called: 0 };
      const exitCodes = new Map<number, number>();
      await fc.assert(
        fc.asyncProperty(fc.oneof({ weight: 3, arbitrary: fitting(RUNNABLE) }, { weight: 1, arbitrary: argv(RUNNABLE) }), async (args: string[]) => {
          const accessKey = `AKIDRUN${++runNumber}`;
          process.env.AWS_ACCESS_KEY_ID = accessKey;
          const ran = await runVector(args, (command) => !RUNNABLE.includes(command));
          const called = tripwire.callsBy(accessKey);
          const e = ran.thrown;
          exitCodes.set(ran.exitCode, (exitCodes.get(ran.exitCode) ?? 0) + 1);
          assert.ok([0, 1, 2, 3].includes(ran.exitCode), `exit code ${ran.exitCode}`);
          assert.doesNotMatch(ran.out, /\n\s+at .+:\d+:\d+\)?\n/, 'no stack trace in the output');
          if (e instanceof ReachedAction || (e instanceof CommanderError && e.exitCode === 0)) return;
          if (ran.exitCode === 2) {
            assert.equal(called, 0, `bad usage called nothing: ${JSON.stringify(args)}`);
            tally.usage++;
            return;
          }
          tally.ran++;
          if (called > 0) tally.called++;
          if (e !== undefined) assert.ok(isNamedError(e) || CLI_ERRORS.has(describeName(e)), `running ${JSON.stringify(args)} threw ${describeThrown(e)}`);
        }),
        // Kept from earlier failures (bugs since fixed, and CLI-named errors): the counterexamples fast-check found.
        {
          ...propertyParameters(runs(400)),
          examples: [[['status']], [['sweep']], [['status', '--profile', '1234abcd-12ab-34cd-56ef-1234567890ab']], [['status', '--region', ' ']], [['status', '--endpoint-url', ' ']], [['recover', '1234abcd-12ab-34cd-56ef-1234567890ab', '--via-stack=0']]],
        },
      );
      assert.ok(tally.usage > 0 && tally.called > 0, JSON.stringify(tally));
      const spread = [...exitCodes].sort(([a], [b]) => a - b).map(([c, n]) => `exit ${c}×${n}`).join(', ');
      process.env.AWS_ACCESS_KEY_ID = 'AKIDRELIABILITY';
      return `${runs(400)} generated vectors (${spread}): ${tally.usage} bad usage with no AWS call, ${tally.ran} ran (${tally.called} reached the tripwire endpoint and ended with a named outcome)`;
    });
  });

  test('whole processes: a sample of the bad-usage vectors exits 2 and calls nothing', async () => {
    await scenario(FILE, 'properties', 'CLI bad usage as whole processes: exit 2, no AWS call', async () => {
      const sample = [['recover', '--no-such-flag'], ['plan', '--action', 'sideways', 'alias/x'], ['recover', 'alias/a', '--key-id', 'alias/b'], ['status', '--output', 'yaml']];
      for (const args of usageVectors) {
        if (sample.length >= 8) break;
        if (!args.includes('--help') && !args.includes('-h') && !args.includes('help') && !args.some((a) => a.includes('\0'))) sample.push(args);
      }
      const results: string[] = [];
      for (const args of sample) {
        const { code, stderr } = await new Promise<{ code: number; stderr: string }>((resolve) => {
          execFile(process.execPath, [BIN, ...args], { env: { ...process.env, AWS_ACCESS_KEY_ID: 'AKIDPROCESS' }, timeout: 60_000 }, (error, _stdout, stderr) =>
            resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stderr }),
          );
        });
        assert.equal(code, 2, `kms-reimport ${JSON.stringify(args)} exits 2: ${stderr.slice(0, 300)}`);
        results.push(JSON.stringify(args));
      }
      assert.equal(tripwire.callsBy('AKIDPROCESS'), 0, 'no AWS call');
      return `${sample.length} processes (${results.join(' ')}): exit 2, no AWS call`;
    });
  });

  // Regressions: three bugs this property found, fixed (lib/errors.ts toFleetError in cli/fleet.ts; --region and
  // --endpoint-url checked by cli/options.ts before any client is made).
  // status and sweep let the SDK's own errors out unnamed (AccessDeniedException from GetResources, CredentialsProviderError).
  for (const args of [['status'], ['sweep'], ['status', '--profile', 'no-such-profile']]) {
    test(`counterexample: \`${args.join(' ')}\` against an account that refuses ends in a named error, not the SDK's own`, async () => {
      const ran = await runVector(args, () => false);
      assert.ok(isNamedError(ran.thrown), `threw ${describeThrown(ran.thrown)}`);
    });
  }

  // A --region that is not a Region name reached the SDK: an unnamed Error, exit 1.
  for (const region of [' ', 'us east 1']) {
    test(`counterexample: \`recover <key> --region ${JSON.stringify(region)}\` is bad usage (exit 2, a named error), not an unnamed SDK error`, async () => {
      const ran = await runVector(['recover', '1234abcd-12ab-34cd-56ef-1234567890ab', '--region', region], () => false);
      assert.ok(ran.thrown instanceof CommanderError && ran.thrown.code === 'commander.invalidArgument', `threw ${describeThrown(ran.thrown)}`);
      assert.equal(ran.exitCode, 2);
    });
  }

  // An --endpoint-url that is not a URL reached the SDK client: an unnamed TypeError, exit 1.
  test('counterexample: `status --endpoint-url " "` is bad usage (exit 2, a named error), not a TypeError', async () => {
    const ran = await runVector(['status', '--endpoint-url', ' '], () => false);
    assert.ok(ran.thrown instanceof CommanderError && ran.thrown.code === 'commander.invalidArgument', `threw ${describeThrown(ran.thrown)}`);
    assert.equal(ran.exitCode, 2);
  });
});
