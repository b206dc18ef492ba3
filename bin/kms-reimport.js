#!/usr/bin/env node
// The kms-reimport command. It runs the prebuilt bundle in dist/cli/ (scripts/build.mjs --cli: ESM,
// one chunk per command's work, so `--help` loads almost nothing) when that bundle is fresh; when it
// is missing or older than a source file, it builds it first (esbuild, about a second); when it
// cannot (esbuild absent, a read-only install), it runs the TypeScript sources through tsx.
// KMS_REIMPORT_FROM_SOURCE=1 always runs the sources (tsx).
import { join } from 'node:path';
import { pathToFileURL, fileURLToPath } from 'node:url';
import { freshCliBuild } from '../scripts/cli-bundle.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));

async function buildBundle() {
  try {
    process.stderr.write('kms-reimport: building the command line (dist/cli) ...\n');
    const { buildCli } = await import('../scripts/build.mjs');
    // The build just made, even if a source changed meanwhile (the next start rebuilds).
    const built = await buildCli({ logLevel: 'error' });
    return join(built.path, built.main);
  } catch (error) {
    process.stderr.write(`kms-reimport: could not build dist/cli (${error?.message ?? error}); running the sources with tsx\n`);
    return undefined;
  }
}

const fromSource = process.env.KMS_REIMPORT_FROM_SOURCE === '1';
const bundle = fromSource ? undefined : (freshCliBuild({ root })?.mainPath ?? (await buildBundle()));
if (bundle) {
  await import(pathToFileURL(bundle).href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../cli/main.ts');
}
