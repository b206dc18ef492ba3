#!/usr/bin/env node
// Bundles every Lambda handler in functions/*.ts into dist/functions/<name>/index.mjs with esbuild:
// ESM, minified, source maps (the functions run with NODE_OPTIONS=--enable-source-maps), node22.
//
// The entry points come from the directory listing, not from a list kept here, so that the
// template's EntryPoints and this build can be checked against each other
// (test/unit/build.test.ts). Only files directly in functions/ are handlers; functions/commons/
// and other folders hold shared modules that the handlers import.
//
// Decision: everything is bundled, the AWS SDK included (no externals). The nodejs22.x runtime
// ships an SDK v3, but its version is AWS's choice and may lag behind the one this project is
// tested with, and the 2025 KMS import API (KeyMaterialId, ImportType, ListKeyRotations with
// IncludeKeyMaterial) needs a recent client. Bundling pins what was tested; the cost is a larger
// bundle (tree-shaken by esbuild) and a slightly slower cold start.
//
// Decision: the Lambda bundles leave out the SDK's default credential chain. Every client's
// runtimeConfig imports `defaultProvider` from @aws-sdk/credential-provider-node, which brings the
// ini, SSO, sign-in, credential-process, web-identity, container and instance-metadata providers,
// @aws-sdk/nested-clients (STS, SSO-OIDC and sign-in clients with their schemas and errors),
// @aws-sdk/token-providers and the XML/query protocol code they need: about 190 kB of every bundle,
// none of it ever used in Lambda, where the runtime puts the execution role's credentials in
// AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN. The plugin below
// (lambdaCredentials) resolves that import to lib/aws/lambda-credentials.ts: the same
// `defaultProvider`, built on fromEnv (@aws-sdk/credential-provider-env) and, where Lambda hands
// credentials out through the container endpoint instead (AWS_CONTAINER_CREDENTIALS_FULL_URI, as
// with SnapStart), fromHttp (@aws-sdk/credential-provider-http). A bundle run outside Lambda without
// those variables (a profile, SSO, an EC2 role) fails at its first AWS call with a ConfigError that
// names them, before anything is sent (set them to run one locally). The command line (--cli) keeps
// the full chain: profiles and SSO are what people use there.
// test/unit/build.test.ts checks from the metafile that none of it is left in a Lambda bundle, that
// the CLI still has it, and every bundle's size; test/integration/lambda-bundle.test.ts runs one.
// Decision: `sam build` builds with this script too. SAM's own `BuildMethod: esbuild` passes esbuild
// a fixed set of flags (minify, sourcemap, target, format, main fields, external, loader, out
// extension, banner: no plugins, no alias), so its bundles would keep the full chain. The template
// uses `BuildMethod: makefile`: the Makefile's build-<LogicalId> targets run `--only <name> --flat`
// into SAM's ARTIFACTS_DIR, so what is deployed is what the tests and the bench build.
//
// The command line (--cli) is bundled too, for start-up time: see buildCli below.
//
// Usage: node scripts/build.mjs [--outdir <dir>] [--only <name>[,<name>...]]   (default: dist/functions, every handler)
//        node scripts/build.mjs --only <name> --flat --outdir <dir>   (<dir>/<name>.mjs: a Lambda artifact, the Makefile's targets)
//        node scripts/build.mjs --cli [--optional]     (dist/cli: the prebuilt command line)
import { readdirSync, statSync, writeFileSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { basename, join, relative, resolve, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { cliOutdir, freshCliBuild, inputsLoadedAtStart } from './cli-bundle.mjs';

export { freshCliBuild, inputsLoadedAtStart };

/** esbuild, loaded when a build runs (a production install has none: see `--cli --optional`). */
const loadEsbuild = () => import('esbuild');

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The handler files: functions/<name>.ts directly in the folder (no .d.ts, no tests). */
export function listFunctionEntries(root = repoRoot) {
  const dir = join(root, 'functions');
  let names;
  try {
    names = readdirSync(dir);
  } catch (error) {
    throw new Error(`cannot list ${dir} (${error.code ?? error.message}): run the build from the kms-reimport repository`);
  }
  return names
    .filter((name) => name.endsWith('.ts') && !name.endsWith('.d.ts') && !name.endsWith('.test.ts'))
    .filter((name) => statSync(join(dir, name)).isFile())
    .sort()
    .map((file) => ({ name: basename(file, '.ts'), entry: join(dir, file) }));
}

/** What the Lambda bundles and the command line's share: minified ESM for Node with source maps and a metafile. */
const ESM_BUNDLE_OPTIONS = {
  outExtension: { '.js': '.mjs' },
  bundle: true,
  platform: 'node',
  format: 'esm',
  mainFields: ['module', 'main'],
  minify: true,
  sourcemap: true,
  sourcesContent: false,
  legalComments: 'none',
  // Some bundled CommonJS dependencies call require() for Node built-ins; give them one in ESM.
  banner: { js: "import { createRequire as __kmsReimportCreateRequire } from 'node:module'; const require = __kmsReimportCreateRequire(import.meta.url);" },
  metafile: true,
};

/** The module the Lambda bundles get instead of the SDK's default credential chain (see the Decision above). */
export const LAMBDA_CREDENTIALS_MODULE = join(repoRoot, 'lib', 'aws', 'lambda-credentials.ts');

/** esbuild plugin: `@aws-sdk/credential-provider-node` (the SDK clients' default chain) → LAMBDA_CREDENTIALS_MODULE. */
export const lambdaCredentials = {
  name: 'kms-reimport-lambda-credentials',
  setup(build) {
    build.onResolve({ filter: /^@aws-sdk\/credential-provider-node$/ }, () => ({ path: LAMBDA_CREDENTIALS_MODULE }));
  },
};

/**
 * Builds one bundle per handler (or only the handlers named in `only`, for a test that runs one).
 * Returns what was written: for each function its name, the bundle path, its size, and the exports
 * esbuild saw in it (a handler must export `handler`).
 */
export async function buildFunctions({ root = repoRoot, outdir = join(root, 'dist', 'functions'), only, flat = false } = {}) {
  const all = listFunctionEntries(root);
  if (all.length === 0) {
    throw new Error(`no handlers found: ${join(root, 'functions')} has no *.ts files`);
  }
  const unknown = (only ?? []).filter((name) => !all.some((e) => e.name === name));
  if (unknown.length > 0) throw new Error(`no handler ${unknown.join(', ')} in ${join(root, 'functions')} (there are: ${all.map((e) => e.name).join(', ')})`);
  const entries = only ? all.filter((e) => only.includes(e.name)) : all;
  // flat: one handler written as <outdir>/<name>.mjs, a Lambda artifact (the Makefile's targets; Handler: <name>.handler).
  if (flat && entries.length !== 1) throw new Error(`--flat builds exactly one handler (--only <name>); got ${entries.length}`);
  const outName = (name) => (flat ? name : `${name}/index`);
  const esbuild = await loadEsbuild();
  const result = await esbuild.build({
    absWorkingDir: root,
    entryPoints: Object.fromEntries(entries.map(({ name, entry }) => [outName(name), entry])),
    outdir,
    ...ESM_BUNDLE_OPTIONS,
    target: 'node22',
    plugins: [lambdaCredentials],
    logLevel: 'warning',
  });
  const outputs = result.metafile.outputs;
  const built = entries.map(({ name, entry }) => {
    const file = join(outdir, `${outName(name)}.mjs`);
    const key = relative(root, file).split('\\').join('/');
    const meta = outputs[key];
    if (!meta) throw new Error(`esbuild wrote no bundle for ${relative(root, entry)} (expected ${key})`);
    return { name, entry: relative(root, entry), file, bytes: meta.bytes, exports: meta.exports, inputs: Object.keys(meta.inputs) };
  });
  mkdirSync(outdir, { recursive: true });
  // A Lambda artifact holds the bundle and its map only.
  if (!flat) writeFileSync(join(outdir, 'meta.json'), JSON.stringify(result.metafile));
  return built;
}

// ---------------------------------------------------------------------------- the command line
//
// bin/kms-reimport.js runs the CLI from a prebuilt bundle when there is a fresh one, so that a
// command does not pay for compiling TypeScript (tsx) at every start. ESM with code splitting:
// cli/main.ts is the entry, and every `await import()` in a command's action (the SDK clients,
// lib/, local/, the drill) becomes a chunk loaded only when that command runs; `--help` loads the
// entry chunk alone. Built by `npm install` / `npm ci` (the "prepare" script) and, when missing or
// stale, by bin/kms-reimport.js on first run; never committed (dist/ is ignored).
//
// Each build goes to its own folder (dist/cli/<build id>/) and is then named current by an atomic
// rename of dist/cli/current.json, so two processes building at once (parallel tests) never load
// half-written files. current.json lists the build's project inputs: a build is stale when any of
// them (or package-lock.json, or this script) changed after it.

export const CLI_ENTRY = 'cli/main.ts';

/** The project files (not node_modules) a build was made from, relative to the repository. */
function projectInputs(metafile) {
  return Object.keys(metafile.inputs).filter((file) => !file.startsWith('node_modules/') && !file.includes(':'));
}

/** Builds the CLI into <outdir>/<id>/ and names it current. Returns the build's description. */
export async function buildCli({ root = repoRoot, outdir = cliOutdir(root), logLevel = 'warning' } = {}) {
  const id = `build-${Date.now().toString(36)}-${process.pid}`;
  const dir = join(outdir, id);
  const builtAt = Date.now();
  const esbuild = await loadEsbuild();
  const result = await esbuild.build({
    absWorkingDir: root,
    entryPoints: { main: CLI_ENTRY },
    outdir: dir,
    ...ESM_BUNDLE_OPTIONS,
    chunkNames: 'chunks/[name]-[hash]',
    splitting: true,
    target: 'node20',
    // Left to Node, resolved from node_modules at run time, as the sources use them: a CommonJS
    // package loaded by `await import()` keeps its named exports only when Node loads it (esbuild's
    // chunk would give `default` alone): yaml-cfn (`local --iam-template`); and the IAM simulator
    // (the local endpoint's IAM enforcement) reads its data files next to its own modules.
    external: ['yaml-cfn', '@cloud-copilot/*'],
    logLevel,
  });
  writeFileSync(join(dir, 'meta.json'), JSON.stringify(result.metafile));
  mkdirSync(outdir, { recursive: true });
  const main = relative(root, join(dir, 'main.mjs')).split('\\').join('/');
  const current = { dir: id, main: 'main.mjs', builtAt, inputs: [...projectInputs(result.metafile), 'package-lock.json', relative(root, fileURLToPath(import.meta.url)).split('\\').join('/')] };
  const pointer = join(outdir, 'current.json');
  const temporary = `${pointer}.${process.pid}.tmp`;
  writeFileSync(temporary, JSON.stringify(current));
  renameSync(temporary, pointer);
  pruneOldBuilds(outdir, id);
  return { ...current, path: dir, metafile: result.metafile, atStart: inputsLoadedAtStart(result.metafile, main) };
}

/** Removes builds other than `keep` that are more than a day old (a long run started from one, a sweep of thousands of keys, may still load its chunks). */
function pruneOldBuilds(outdir, keep) {
  for (const name of readdirSync(outdir)) {
    if (!name.startsWith('build-') || name === keep) continue;
    const path = join(outdir, name);
    try {
      if (Date.now() - statSync(path).mtimeMs > 86_400_000) rmSync(path, { recursive: true, force: true });
    } catch {
      // Another process pruned it first.
    }
  }
}

async function main(argv) {
  if (argv.includes('--cli')) {
    // --optional (the "prepare" script): a production install (no esbuild) is not a failure; the
    // command then runs its TypeScript sources through tsx.
    if (argv.includes('--optional')) {
      try {
        await loadEsbuild();
      } catch {
        console.log('cli: esbuild is not installed; kms-reimport will run its sources with tsx');
        return;
      }
    }
    const built = await buildCli();
    const bytes = Object.entries(built.metafile.outputs).filter(([f]) => f.endsWith('.mjs')).reduce((n, [, o]) => n + o.bytes, 0);
    console.log(`cli ${(bytes / 1024).toFixed(0).padStart(6)} kB in ${Object.keys(built.metafile.outputs).filter((f) => f.endsWith('.mjs')).length} chunks  ${relative(process.cwd(), built.path)}`);
    return;
  }
  const at = argv.indexOf('--outdir');
  const outdir = at >= 0 ? resolve(argv[at + 1] ?? '') : undefined;
  if (at >= 0 && !argv[at + 1]) throw new Error('--outdir needs a directory');
  const onlyAt = argv.indexOf('--only');
  if (onlyAt >= 0 && !argv[onlyAt + 1]) throw new Error('--only needs handler names, comma-separated (e.g. --only verify,report)');
  const only = onlyAt >= 0 ? argv[onlyAt + 1].split(',').map((name) => name.trim()).filter(Boolean) : undefined;
  const flat = argv.includes('--flat');
  if (flat && !outdir) throw new Error('--flat needs --outdir (the artifact directory)');
  const built = await buildFunctions({ ...(outdir ? { outdir } : {}), ...(only ? { only } : {}), flat });
  for (const fn of built) {
    const missing = fn.exports.includes('handler') ? '' : '   (no `handler` export!)';
    console.log(`${fn.name.padEnd(24)} ${(fn.bytes / 1024).toFixed(0).padStart(6)} kB  ${relative(process.cwd(), fn.file)}${missing}`);
  }
  const withoutHandler = built.filter((fn) => !fn.exports.includes('handler'));
  if (withoutHandler.length > 0) {
    throw new Error(`${withoutHandler.map((fn) => fn.entry).join(', ')} export no \`handler\`: Lambda could not call them`);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main(process.argv.slice(2)).catch((error) => {
    console.error(`build failed: ${error.message}`);
    process.exit(1);
  });
}
