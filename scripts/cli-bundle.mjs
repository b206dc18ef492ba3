// The prebuilt command line's folder and its freshness check, shared by bin/kms-reimport.js (at every
// start, so this module loads nothing but node:fs) and scripts/build.mjs (which writes the builds).
//
// dist/cli/current.json names the current build: { dir, main, builtAt, inputs }. `inputs` are the
// project files the build was made from (from esbuild's metafile) plus package-lock.json and
// scripts/build.mjs: the build
// is stale when any of them changed after it, or is gone.
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** The folder of the CLI builds under a repository root. */
export const cliOutdir = (root) => join(root, 'dist', 'cli');

/** The current build when it is fresh, with `mainPath` (its entry); else undefined. */
export function freshCliBuild({ root, outdir = cliOutdir(root) }) {
  let current;
  try {
    current = JSON.parse(readFileSync(join(outdir, 'current.json'), 'utf8'));
    for (const input of current.inputs) if (statSync(join(root, input)).mtimeMs > current.builtAt) return undefined;
    const mainPath = join(outdir, current.dir, current.main);
    statSync(mainPath);
    return { ...current, mainPath };
  } catch {
    // No build yet, an input deleted, or a half-pruned folder: stale.
    return undefined;
  }
}

/**
 * Inputs loaded when an output chunk starts, before any dynamic import: the closure of its static
 * imports over the build's chunks (for the entry, what `--help` loads).
 */
export function inputsLoadedAtStart(metafile, entryOutput) {
  const seen = new Set();
  const inputs = new Set();
  const visit = (output) => {
    if (seen.has(output)) return;
    seen.add(output);
    const meta = metafile.outputs[output];
    if (!meta) return;
    for (const input of Object.keys(meta.inputs)) inputs.add(input);
    for (const imported of meta.imports ?? []) if (imported.kind === 'import-statement' && !imported.external) visit(imported.path);
  };
  visit(entryOutput);
  return [...inputs].sort();
}
