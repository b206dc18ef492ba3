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
// bundle (tree-shaken by esbuild, a few hundred kB) and a slightly slower cold start.
//
// Usage: node scripts/build.mjs [--outdir <dir>]      (default: dist/functions)
import { readdirSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { basename, join, relative, resolve, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as esbuild from 'esbuild';

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

/**
 * Builds one bundle per handler. Returns what was written: for each function its name, the
 * bundle path, its size, and the exports esbuild saw in it (a handler must export `handler`).
 */
export async function buildFunctions({ root = repoRoot, outdir = join(root, 'dist', 'functions') } = {}) {
  const entries = listFunctionEntries(root);
  if (entries.length === 0) {
    throw new Error(`no handlers found: ${join(root, 'functions')} has no *.ts files`);
  }
  const result = await esbuild.build({
    absWorkingDir: root,
    entryPoints: Object.fromEntries(entries.map(({ name, entry }) => [`${name}/index`, entry])),
    outdir,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    platform: 'node',
    target: 'node22',
    format: 'esm',
    mainFields: ['module', 'main'],
    minify: true,
    sourcemap: true,
    sourcesContent: false,
    legalComments: 'none',
    // Some bundled CommonJS dependencies call require() for Node built-ins; give them one in ESM.
    banner: { js: "import { createRequire as __kmsReimportCreateRequire } from 'node:module'; const require = __kmsReimportCreateRequire(import.meta.url);" },
    metafile: true,
    logLevel: 'warning',
  });
  const outputs = result.metafile.outputs;
  const built = entries.map(({ name, entry }) => {
    const file = join(outdir, name, 'index.mjs');
    const key = relative(root, file).split('\\').join('/');
    const meta = outputs[key];
    if (!meta) throw new Error(`esbuild wrote no bundle for ${relative(root, entry)} (expected ${key})`);
    return { name, entry: relative(root, entry), file, bytes: meta.bytes, exports: meta.exports, inputs: Object.keys(meta.inputs) };
  });
  mkdirSync(outdir, { recursive: true });
  writeFileSync(join(outdir, 'meta.json'), JSON.stringify(result.metafile));
  return built;
}

async function main(argv) {
  const at = argv.indexOf('--outdir');
  const outdir = at >= 0 ? resolve(argv[at + 1] ?? '') : undefined;
  if (at >= 0 && !argv[at + 1]) throw new Error('--outdir needs a directory');
  const built = await buildFunctions(outdir ? { outdir } : {});
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
