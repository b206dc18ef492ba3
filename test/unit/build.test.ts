/**
 * scripts/build.mjs: one bundle per handler, runnable ESM, in step with template.yaml; and each
 * function's IAM actions equal the AWS operations its bundle can send.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync, existsSync, readFileSync, readdirSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { spawnSync } from 'node:child_process';
import * as esbuild from 'esbuild';
import { repoRoot, loadTemplate, serverlessFunctions, entryPointOf, functionByEntry, type Json } from './template-load.js';
import { grantedStatements } from './template-iam.js';

interface BuiltFunction {
  name: string;
  entry: string;
  file: string;
  bytes: number;
  exports: string[];
  inputs: string[];
}
interface BuildModule {
  listFunctionEntries(root?: string): Array<{ name: string; entry: string }>;
  buildFunctions(options?: { root?: string; outdir?: string; only?: string[] }): Promise<BuiltFunction[]>;
}

/**
 * The SDK's default credential chain and what only it needs (scripts/build.mjs, Decision): the
 * chain itself, its ini/SSO/login/process/web-identity/instance-metadata providers, the nested
 * STS/SSO-OIDC/sign-in clients and the SSO token providers.
 */
const LEFT_OUT_OF_LAMBDA = /node_modules\/@aws-sdk\/(credential-provider-(node|ini|sso|process|web-identity|login)|nested-clients|token-providers)\/|node_modules\/@smithy\/credential-provider-imds\//;
/** Issue 10: keep the largest Lambda bundle at most 400 kB (counted in decimal kB, the stricter reading). */
const LAMBDA_BUNDLE_MAX_BYTES = 400_000;

const scriptUrl = pathToFileURL(join(repoRoot, 'scripts', 'build.mjs')).href;
const loadBuildModule = async (): Promise<BuildModule> => (await import(scriptUrl)) as BuildModule;

const scratch = mkdtempSync(join(tmpdir(), 'kms-reimport-build-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

describe('scripts/build.mjs on a small project', () => {
  const root = join(scratch, 'project');
  before(() => {
    mkdirSync(join(root, 'functions', 'commons'), { recursive: true });
    writeFileSync(join(root, 'functions', 'commons', 'shared.ts'), "export const greet = (who: string): string => `hello ${who}`;\n");
    writeFileSync(join(root, 'functions', 'alpha.ts'), "import { greet } from './commons/shared.js';\nexport const handler = async () => greet('alpha');\n");
    writeFileSync(join(root, 'functions', 'beta.ts'), "import { createHash } from 'node:crypto';\nexport async function handler(e: { s: string }) { return createHash('sha256').update(e.s).digest('hex').slice(0, 8); }\n");
    writeFileSync(join(root, 'functions', 'types.d.ts'), 'export type Nothing = never;\n');
    mkdirSync(join(scratch, 'empty', 'functions'), { recursive: true });
  });

  test('one bundle per handler file directly in functions/, none for commons/ or .d.ts', async () => {
    const { buildFunctions, listFunctionEntries } = await loadBuildModule();
    assert.deepEqual(listFunctionEntries(root).map((e) => e.name), ['alpha', 'beta']);
    const outdir = join(scratch, 'out-small');
    const built = await buildFunctions({ root, outdir });
    assert.deepEqual(built.map((b) => b.name), ['alpha', 'beta']);
    assert.deepEqual(readdirSync(outdir).sort(), ['alpha', 'beta', 'meta.json']);
    for (const b of built) {
      assert.equal(b.file, join(outdir, b.name, 'index.mjs'));
      assert.ok(existsSync(`${b.file}.map`), `${b.name}: no source map`);
      assert.deepEqual(b.exports, ['handler']);
    }
  });

  test('the bundles are self-contained ES modules that run', async () => {
    const outdir = join(scratch, 'out-small');
    const alpha = (await import(pathToFileURL(join(outdir, 'alpha', 'index.mjs')).href)) as { handler: () => Promise<string> };
    assert.equal(await alpha.handler(), 'hello alpha');
    const beta = (await import(pathToFileURL(join(outdir, 'beta', 'index.mjs')).href)) as { handler: (e: { s: string }) => Promise<string> };
    assert.equal(await beta.handler({ s: 'x' }), '2d711642');
    assert.match(readFileSync(join(outdir, 'alpha', 'index.mjs'), 'utf8'), /sourceMappingURL=index\.mjs\.map/);
  });

  test('only: the named handlers alone are built; a name that is no handler is an error naming the ones there are', async () => {
    const { buildFunctions } = await loadBuildModule();
    const outdir = join(scratch, 'out-only');
    const built = await buildFunctions({ root, outdir, only: ['beta'] });
    assert.deepEqual(built.map((b) => b.name), ['beta']);
    assert.deepEqual(readdirSync(outdir).sort(), ['beta', 'meta.json']);
    await assert.rejects(buildFunctions({ root, outdir, only: ['gamma'] }), /no handler gamma .*there are: alpha, beta/);
  });

  test('a folder without handlers is an error that says so', async () => {
    const { buildFunctions } = await loadBuildModule();
    await assert.rejects(buildFunctions({ root: join(scratch, 'empty'), outdir: join(scratch, 'out-empty') }), /no handlers found/);
  });
});

describe('npm run build on this repository', () => {
  const outdir = join(scratch, 'out-repo');
  let run: ReturnType<typeof spawnSync>;
  before(() => {
    run = spawnSync(process.execPath, [join(repoRoot, 'scripts', 'build.mjs'), '--outdir', outdir], { cwd: repoRoot, encoding: 'utf8' });
  });

  test('writes one minified ESM bundle with a source map per handler, the SDK bundled in', () => {
    assert.equal(run.status, 0, `build failed:\n${run.stdout}${run.stderr}`);
    const handlers = readdirSync(join(repoRoot, 'functions')).filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts')).map((f) => basename(f, '.ts')).sort();
    assert.deepEqual(readdirSync(outdir).filter((f) => f !== 'meta.json').sort(), handlers);
    for (const name of handlers) {
      const code = readFileSync(join(outdir, name, 'index.mjs'), 'utf8');
      assert.ok(existsSync(join(outdir, name, 'index.mjs.map')), name);
      assert.doesNotMatch(code, /\bvar \w+Command = class\b/, `${name} does not look minified (names kept)`);
      assert.ok(Math.max(...code.split('\n').map((l) => l.length)) > 10_000, `${name} does not look minified (short lines)`);
      assert.doesNotMatch(code, /from\s*"@aws-sdk\//, `${name} imports the SDK at run time instead of bundling it`);
    }
  });

  test('the bundles and the template functions name the same handlers', () => {
    const meta = JSON.parse(readFileSync(join(outdir, 'meta.json'), 'utf8'));
    const built = Object.entries<Json>(meta.outputs)
      .filter(([file]) => file.endsWith('/index.mjs'))
      .map(([, o]) => o.entryPoint as string)
      .sort();
    const entries = serverlessFunctions(loadTemplate()).map(([, r]) => entryPointOf(r)).sort();
    assert.deepEqual(built, entries);
    for (const [file, o] of Object.entries<Json>(meta.outputs)) {
      if (file.endsWith('/index.mjs')) assert.ok(o.exports.includes('handler'), `${file} exports no handler`);
    }
  });

  test('every bundle loads in a fresh Node process with exactly the environment the template gives its function', () => {
    const template = loadTemplate();
    const fake = (value: Json): string => {
      if (typeof value === 'string') return value;
      if (value.Ref === 'RecoveryStateMachine') return 'arn:aws:states:us-east-1:111122223333:stateMachine:kms-reimport-test';
      if (value.Ref === 'OutcomeTopic') return 'arn:aws:sns:us-east-1:111122223333:kms-reimport-test-outcomes';
      if (value.Ref && template.Parameters[value.Ref]) return String(template.Parameters[value.Ref].Default);
      throw new Error(`no test value for ${JSON.stringify(value)}`);
    };
    const globals = template.Globals.Function.Environment.Variables;
    for (const [id, resource] of serverlessFunctions(template)) {
      const own = resource.Properties.Environment?.Variables ?? {};
      // What the Lambda runtime itself provides, plus what the template sets: nothing else.
      const env: Record<string, string> = {
        PATH: process.env.PATH ?? '',
        AWS_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: 'test',
        AWS_SECRET_ACCESS_KEY: 'test',
        AWS_LAMBDA_FUNCTION_NAME: id,
      };
      for (const [name, value] of Object.entries<Json>({ ...globals, ...own })) env[name] = fake(value);
      const file = pathToFileURL(join(outdir, basename(entryPointOf(resource), '.ts'), 'index.mjs')).href;
      const script = `const m = await import(${JSON.stringify(file)}); if (typeof m.handler !== 'function') throw new Error('no handler'); console.log('loaded');`;
      const load = spawnSync(process.execPath, ['--input-type=module', '-e', script], { env, encoding: 'utf8' });
      assert.equal(load.status, 0, `${id} fails at cold start with the template's environment:\n${load.stdout}${load.stderr}`);
      assert.match(load.stdout, /loaded/);
    }
  });

  /** Bundle name → the node_modules and project files that put bytes into it, from the build's metafile. */
  function inputsByBundle(): Map<string, string[]> {
    const meta = JSON.parse(readFileSync(join(outdir, 'meta.json'), 'utf8')) as { outputs: Record<string, { bytes: number; inputs: Record<string, { bytesInOutput: number }> }> };
    const bundles = Object.entries(meta.outputs).filter(([file]) => file.endsWith('/index.mjs'));
    assert.ok(bundles.length > 0, 'no bundle in the metafile: the checks below would be vacuous');
    return new Map(bundles.map(([file, o]) => [basename(join(file, '..')), Object.entries(o.inputs).filter(([, i]) => i.bytesInOutput > 0).map(([input]) => input)]));
  }

  test("no Lambda bundle carries the SDK's default credential chain: lib/aws/lambda-credentials.ts stands in for it", () => {
    for (const [name, inputs] of inputsByBundle()) {
      const chain = inputs.filter((i) => LEFT_OUT_OF_LAMBDA.test(i));
      assert.deepEqual(chain, [], `${name} bundles parts of the default credential chain`);
      assert.ok(inputs.includes('lib/aws/lambda-credentials.ts'), `${name}: no lib/aws/lambda-credentials.ts (does it use an SDK client at all?)`);
      assert.ok(inputs.some((i) => i.includes('node_modules/@aws-sdk/credential-provider-env/')), `${name}: fromEnv is missing`);
      assert.ok(inputs.some((i) => i.includes('node_modules/@aws-sdk/credential-provider-http/')), `${name}: fromHttp (container credentials) is missing`);
    }
  });

  test(`every Lambda bundle is at most ${LAMBDA_BUNDLE_MAX_BYTES.toLocaleString('en')} bytes (issue 10: the largest <= 400 kB)`, () => {
    const meta = JSON.parse(readFileSync(join(outdir, 'meta.json'), 'utf8')) as { outputs: Record<string, { bytes: number }> };
    const sizes = Object.entries(meta.outputs)
      .filter(([file]) => file.endsWith('/index.mjs'))
      .map(([file, o]) => ({ name: basename(join(file, '..')), bytes: o.bytes, onDisk: readFileSync(join(outdir, basename(join(file, '..')), 'index.mjs')).length }));
    assert.ok(sizes.length > 0);
    for (const { name, bytes, onDisk } of sizes) {
      assert.equal(onDisk, bytes, `${name}: the metafile's size is the file's`);
      assert.ok(bytes <= LAMBDA_BUNDLE_MAX_BYTES, `${name} is ${bytes} bytes, over ${LAMBDA_BUNDLE_MAX_BYTES}`);
    }
  });

  test('a missing variable fails the cold start loudly (the check above is not vacuous)', () => {
    const file = pathToFileURL(join(outdir, 'report', 'index.mjs')).href;
    const script = `await import(${JSON.stringify(file)});`;
    const env = { PATH: process.env.PATH ?? '', AWS_REGION: 'us-east-1' };
    const load = spawnSync(process.execPath, ['--input-type=module', '-e', script], { env, encoding: 'utf8' });
    assert.notEqual(load.status, 0);
    assert.match(load.stderr, /OUTCOME_TOPIC_ARN/);
  });
});

describe('sam build: BuildMethod makefile runs the Makefile target of each function', () => {
  const make = spawnSync('make', ['--version'], { encoding: 'utf8' });
  const skip = make.status === 0 ? false : process.env.CI ? false : 'make is not installed here (sam build needs it; .ci/run has it)';

  test('build-<LogicalId> writes <name>.mjs and its map at ARTIFACTS_DIR, the handler the template names, built like npm run build', { skip }, () => {
    const template = loadTemplate();
    const [id, resource] = functionByEntry(template, 'verify');
    const artifacts = join(scratch, 'sam-artifacts');
    // As SAM calls it: from CodeUri (the repository root), ARTIFACTS_DIR the function's artifact folder.
    const run = spawnSync('make', [`build-${id}`, `ARTIFACTS_DIR=${artifacts}`], { cwd: repoRoot, encoding: 'utf8' });
    assert.equal(run.status, 0, `make build-${id} failed:\n${run.stdout}${run.stderr}`);
    assert.deepEqual(readdirSync(artifacts).sort(), ['verify.mjs', 'verify.mjs.map'], 'only the bundle and its map are deployed');
    assert.equal(resource.Properties.Handler, 'verify.handler');
    const code = readFileSync(join(artifacts, 'verify.mjs'), 'utf8');
    assert.match(code, /export\s*\{[^}]*\bhandler\b/, 'the artifact exports handler');
    assert.doesNotMatch(code, /from\s*"@aws-sdk\//, 'the SDK is bundled, not imported at run time');
    // The Lambda credentials module stands in for the SDK's default chain here too (the reason sam build uses the Makefile).
    assert.match(code, /AWS_CONTAINER_CREDENTIALS_FULL_URI/);
    assert.doesNotMatch(code, /AWS_WEB_IDENTITY_TOKEN_FILE|credential_process|sso_start_url/, 'no provider of the default chain');
  });
});

describe('IAM follows the code', () => {
  /** AWS operation → IAM action prefix, from the SDK clients the project depends on. */
  const prefixes: Record<string, string> = {
    'client-kms': 'kms',
    'client-secrets-manager': 'secretsmanager',
    'client-sfn': 'states',
    'client-resource-groups-tagging-api': 'tag',
    'client-sns': 'sns',
  };
  const operationsByClient = Object.fromEntries(
    Object.keys(prefixes).map((client) => [
      client,
      new Set(
        readdirSync(join(repoRoot, 'node_modules', '@aws-sdk', client, 'dist-types', 'commands'))
          .filter((f) => f.endsWith('Command.d.ts'))
          .map((f) => f.replace(/Command\.d\.ts$/, '')),
      ),
    ]),
  );

  /**
   * Actions AWS authorises as a side effect of another call the code makes: CreateSecret with Tags
   * also needs secretsmanager:TagResource (the rotate function creates a new key's escrow secret
   * with its kms-reimport:key-id tag).
   */
  const IMPLIED: Record<string, string[]> = { 'secretsmanager:CreateSecret': ['secretsmanager:TagResource'] };

  /**
   * The IAM actions for the SDK commands left in a function's bundle after tree shaking: the
   * command modules (node_modules/@aws-sdk/client-<service>/dist-es/commands/<Op>Command.js) that put
   * bytes into the bundle, by client, so that an operation two services share (TagResource: KMS and
   * Secrets Manager) is told apart by the module it comes from.
   */
  async function actionsSentBy(entry: string): Promise<string[]> {
    const result = await esbuild.build({
      absWorkingDir: repoRoot,
      entryPoints: [entry],
      bundle: true,
      platform: 'node',
      format: 'esm',
      mainFields: ['module', 'main'],
      write: false,
      metafile: true,
      logLevel: 'silent',
    });
    const code = result.outputFiles[0]!.text;
    const output = Object.values(result.metafile!.outputs)[0]!;
    const sent = Object.entries(output.inputs)
      .filter(([, input]) => input.bytesInOutput > 0)
      .map(([file]) => /@aws-sdk\/(client-[\w-]+)\/dist-es\/commands\/(\w+)Command\.js$/.exec(file))
      .filter((m): m is RegExpExecArray => m !== null)
      .map(([, client, operation]) => {
        assert.ok(prefixes[client!], `${entry}: sends ${operation} with @aws-sdk/${client}, which this test does not know`);
        assert.ok(operationsByClient[client!]!.has(operation!), `${entry}: ${operation} is not a command of @aws-sdk/${client}`);
        return `${prefixes[client!]}:${operation}`;
      });
    // The same count from the code itself: the metafile reading is not vacuous.
    const classes = new Set([...code.matchAll(/\bvar (\w+)Command\d* = class\b/g)].map((m) => m[0]));
    assert.equal(classes.size, new Set(sent).size, `${entry}: command classes in the bundle and command modules differ`);
    return [...new Set([...sent, ...sent.flatMap((a) => IMPLIED[a] ?? [])])].sort();
  }

  test("each function's IAM actions are exactly the operations its bundle can send", async () => {
    const template = loadTemplate();
    for (const [id, resource] of serverlessFunctions(template)) {
      const entry = entryPointOf(resource);
      const sent = await actionsSentBy(entry);
      assert.ok(sent.length > 0, `${entry}: no AWS operation found; the check would be vacuous`);
      const granted = grantedStatements(template, id);
      const unconditional = [...new Set(granted.filter((s) => !s.conditional).flatMap((s) => s.Action))].sort();
      assert.deepEqual(unconditional, sent, `${id} (${entry}): IAM actions differ from the operations its code sends`);
    }
  });

  test('the only conditional grants are on the escrow key, used by Secrets Manager for wrap-and-import (read) and rotate (read and write here; read of its replicas in other Regions, and of the listed replica-Region escrow keys)', () => {
    const template = loadTemplate();
    const conditional = serverlessFunctions(template).flatMap(([id]) => grantedStatements(template, id).filter((s) => s.conditional).map((s) => [id, s.Action] as const));
    assert.deepEqual(conditional, [
      [functionByEntry(template, 'wrap-and-import')[0], ['kms:Decrypt']],
      [functionByEntry(template, 'rotate')[0], ['kms:Decrypt', 'kms:GenerateDataKey']],
      [functionByEntry(template, 'rotate')[0], ['kms:Decrypt']],
      [functionByEntry(template, 'rotate')[0], ['kms:Decrypt']],
    ]);
  });
});

interface CliBuild {
  dir: string;
  main: string;
  builtAt: number;
  inputs: string[];
  path: string;
  atStart: string[];
  metafile: { inputs: Record<string, unknown>; outputs: Record<string, { bytes: number; imports: Array<{ path: string; kind: string }> }> };
}
interface CliBuildModule {
  buildCli(options: { root?: string; outdir: string; logLevel?: string }): Promise<CliBuild>;
  freshCliBuild(options: { root: string; outdir?: string }): (CliBuild & { mainPath: string }) | undefined;
}

describe('the prebuilt command line (scripts/build.mjs --cli)', () => {
  const root = join(scratch, 'cli-project');
  const outdir = join(scratch, 'cli-out');
  /** One CLI build of this repository, shared by the tests that look at it. */
  let repoBuild: Promise<CliBuild> | undefined;
  const buildRepoCli = async (): Promise<CliBuild> => {
    const { buildCli } = (await import(scriptUrl)) as CliBuildModule;
    repoBuild ??= buildCli({ outdir: join(scratch, 'cli-repo') });
    return repoBuild;
  };
  before(() => {
    mkdirSync(join(root, 'cli'), { recursive: true });
    writeFileSync(join(root, 'cli', 'light.ts'), "export const usage = 'usage: tool [heavy]';\n");
    writeFileSync(join(root, 'cli', 'heavy.ts'), "import { createHash } from 'node:crypto';\nexport const work = () => createHash('sha256').update('x').digest('hex').slice(0, 6);\n");
    writeFileSync(
      join(root, 'cli', 'main.ts'),
      "import { usage } from './light.js';\nif (process.argv[2] === 'heavy') { const { work } = await import('./heavy.js'); console.log(work()); } else console.log(usage);\n",
    );
    writeFileSync(join(root, 'package-lock.json'), '{}\n');
  });

  test('the entry chunk loads only what starts the program; a command\'s work is a chunk of its own, loaded when used', async () => {
    const { buildCli } = (await import(scriptUrl)) as CliBuildModule;
    const built = await buildCli({ root, outdir });
    assert.deepEqual(built.atStart, ['cli/light.ts', 'cli/main.ts']);
    const buildScript = built.inputs.filter((i) => i.endsWith('scripts/build.mjs'));
    assert.equal(buildScript.length, 1, 'the build script itself is an input (a new build configuration makes the bundle stale)');
    assert.deepEqual(built.inputs.filter((i) => !buildScript.includes(i)).sort(), ['cli/heavy.ts', 'cli/light.ts', 'cli/main.ts', 'package-lock.json']);
    const main = join(built.path, built.main);
    assert.equal(spawnSync(process.execPath, [main], { encoding: 'utf8' }).stdout.trim(), 'usage: tool [heavy]');
    assert.equal(spawnSync(process.execPath, [main, 'heavy'], { encoding: 'utf8' }).stdout.trim(), '2d7116');
  });

  test('a build is fresh until one of its inputs (or package-lock.json) changes; a later build becomes the current one', async () => {
    const { buildCli, freshCliBuild } = (await import(scriptUrl)) as CliBuildModule;
    const first = await buildCli({ root, outdir });
    assert.equal(freshCliBuild({ root, outdir })?.dir, first.dir);
    const later = new Date(Date.now() + 5_000);
    utimesSync(join(root, 'cli', 'heavy.ts'), later, later);
    assert.equal(freshCliBuild({ root, outdir }), undefined, 'a source edited after the build makes it stale');
    const second = await buildCli({ root, outdir });
    assert.notEqual(second.dir, first.dir);
    // The edit is still "after" the second build's start (mtime in the future): stale again, as it should be.
    utimesSync(join(root, 'cli', 'heavy.ts'), new Date(), new Date(first.builtAt));
    assert.equal(freshCliBuild({ root, outdir })?.dir, second.dir);
    utimesSync(join(root, 'package-lock.json'), later, later);
    assert.equal(freshCliBuild({ root, outdir }), undefined, 'new dependencies make it stale');
    rmSync(join(root, 'package-lock.json'));
    assert.equal(freshCliBuild({ root, outdir }), undefined, 'a missing input makes it stale');
  });

  test('on this repository: --help loads no command\'s work (no SDK client, no lib/ engine, no local endpoint, no drill)', async () => {
    const built = await buildRepoCli();
    const heavy = built.atStart.filter(
      (input) => input.startsWith('local/') || input.startsWith('node_modules/@aws-sdk/') || input.startsWith('node_modules/@smithy/') || /^cli\/(drill|fleet|recover|rotate|one-key|lease|via-stack)\.ts$/.test(input) || /^lib\/(reimport|recover|rotate|sweep|kms|escrow|wrap|aws)\b/.test(input),
    );
    assert.deepEqual(heavy, [], `loaded by --help: ${heavy.join(', ')}`);
    assert.ok(built.atStart.includes('cli/options.ts') && built.atStart.includes('cli/program.ts'));
    const main = join(built.path, built.main);
    const help = spawnSync(process.execPath, [main, '--help'], { encoding: 'utf8' });
    assert.equal(help.status, 0, help.stderr);
    for (const command of ['recover', 'renew', 'plan', 'rotate', 'status', 'sweep', 'drill', 'local']) assert.match(help.stdout, new RegExp(`^\\s+${command}\\b`, 'm'));
    const bad = spawnSync(process.execPath, [main, 'recover', '--no-such-flag'], { encoding: 'utf8' });
    assert.equal(bad.status, 2, 'an unknown flag is bad usage');
    assert.match(bad.stderr, /unknown option '--no-such-flag'/);
  });

  test("the command line keeps the SDK's full credential chain (profiles, SSO, web identity, credential process, instance metadata)", async () => {
    const built = await buildRepoCli();
    const inputs = Object.keys(built.metafile.inputs);
    for (const part of ['credential-provider-node', 'credential-provider-ini', 'credential-provider-sso', 'credential-provider-process', 'credential-provider-web-identity', 'nested-clients', 'token-providers']) {
      assert.ok(inputs.some((i) => i.includes(`node_modules/@aws-sdk/${part}/`)), `the CLI lost @aws-sdk/${part}`);
    }
    assert.ok(!inputs.includes('lib/aws/lambda-credentials.ts'), "the CLI must not get the Lambda bundles' credentials module");
  });
});
