/**
 * Lambda bundles and their cold start. scripts/build.mjs builds every handler (esbuild, minified,
 * with an external source map) into a temporary folder; for each bundle:
 * - size: the bundle alone, and with its .map (what the deployment package carries);
 * - net cold init: the median time for a fresh `node` to import the bundle with exactly the
 *   environment the template gives the function, minus the median of an empty `node -e ''`
 *   measured in the same run; with NODE_OPTIONS=--enable-source-maps (as the template's Globals
 *   set it, so as deployed) and without.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { entryPointOf, loadTemplate, serverlessFunctions, type Json } from '../test/unit/template-load.js';
import { median, progress, repoRoot, round } from './measure.js';

export interface BundleFigures {
  name: string;
  bytes: number;
  bytesWithMap: number;
  /** Median net init, ms, with --enable-source-maps (as deployed) and without. */
  netInitMs: number;
  netInitNoSourceMapsMs: number;
  /** The largest parts of the bundle, by package (the project's own code as `kms-reimport`), bytes in the output. */
  largestParts: Array<{ part: string; bytes: number }>;
}

export interface BundlesResult {
  samples: number;
  emptyNodeMs: number;
  functions: BundleFigures[];
  maxBytes: number;
  maxBytesWithMap: number;
  maxNetMs: number;
  maxNetNoSourceMapsMs: number;
}

/** The environment the template gives a function (resource references as fake ARNs), and nothing else. */
function functionEnv(template: Json, id: string, resource: Json): Record<string, string> {
  const fake = (value: Json): string => {
    if (typeof value === 'string') return value;
    const ref: string | undefined = value.Ref;
    if (ref && template.Parameters?.[ref]) return String(template.Parameters[ref].Default ?? '');
    const type: string | undefined = ref ? template.Resources?.[ref]?.Type : undefined;
    if (type === 'AWS::Serverless::StateMachine' || type === 'AWS::StepFunctions::StateMachine') return `arn:aws:states:us-east-1:111122223333:stateMachine:kms-reimport-bench-${ref}`;
    if (type === 'AWS::SNS::Topic') return `arn:aws:sns:us-east-1:111122223333:kms-reimport-bench-${ref}`;
    if (ref) return `kms-reimport-bench-${ref}`;
    throw new Error(`bench: no stand-in value for ${JSON.stringify(value)} in ${id}'s environment`);
  };
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'bench',
    AWS_SECRET_ACCESS_KEY: 'bench',
    AWS_LAMBDA_FUNCTION_NAME: id,
  };
  const globals = template.Globals?.Function?.Environment?.Variables ?? {};
  const own = resource.Properties?.Environment?.Variables ?? {};
  for (const [name, value] of Object.entries<Json>({ ...globals, ...own })) env[name] = fake(value);
  return env;
}

interface Metafile {
  outputs: Record<string, { inputs: Record<string, { bytesInOutput: number }> }>;
}

/** Bytes in one bundle per package (node_modules/<pkg> or node_modules/@scope/<pkg>), largest first. */
function largestParts(meta: Metafile, name: string, top = 4): Array<{ part: string; bytes: number }> {
  const output = Object.entries(meta.outputs).find(([file]) => file.endsWith(`/${name}/index.mjs`))?.[1];
  if (!output) return [];
  const byPart = new Map<string, number>();
  for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
    const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input);
    const part = m ? m[1]! : 'kms-reimport';
    byPart.set(part, (byPart.get(part) ?? 0) + bytesInOutput);
  }
  return [...byPart].map(([part, bytes]) => ({ part, bytes })).sort((a, b) => b.bytes - a.bytes).slice(0, top);
}

function timeNode(args: string[], env: Record<string, string>): number {
  const started = performance.now();
  const run = spawnSync(process.execPath, args, { env, encoding: 'utf8' });
  const ms = performance.now() - started;
  if (run.status !== 0) throw new Error(`node ${args.join(' ').slice(0, 200)} failed (exit ${run.status}): ${run.stderr.slice(-1500)}`);
  return ms;
}

export async function benchBundles(samples: number): Promise<BundlesResult> {
  const outdir = mkdtempSync(join(tmpdir(), 'kms-reimport-bench-bundles-'));
  try {
    progress('bundles: node scripts/build.mjs');
    const build = spawnSync(process.execPath, ['scripts/build.mjs', '--outdir', outdir], { cwd: repoRoot, encoding: 'utf8' });
    if (build.status !== 0) throw new Error(`scripts/build.mjs failed: ${build.stderr.slice(-1500)}`);
    const meta = JSON.parse(readFileSync(join(outdir, 'meta.json'), 'utf8')) as Metafile;
    const template = loadTemplate();
    const fns = serverlessFunctions(template).map(([id, resource]) => {
      const name = entryPointOf(resource).replace(/^functions\//, '').replace(/\.ts$/, '');
      const file = join(outdir, name, 'index.mjs');
      return { id, name, file, env: functionEnv(template, id, resource) };
    });
    const empty: number[] = [];
    const perFunction = new Map(fns.map((f) => [f.name, { maps: [] as number[], plain: [] as number[] }]));
    progress(`bundles: cold init of ${fns.length} bundles, ${samples} samples each, interleaved with an empty node`);
    // Interleaved, so that the machine's load at one moment weighs on every figure alike.
    for (let i = 0; i < samples; i++) {
      empty.push(timeNode(['-e', ''], { PATH: process.env.PATH ?? '' }));
      for (const fn of fns) {
        const script = `const m = await import(${JSON.stringify(pathToFileURL(fn.file).href)}); if (typeof m.handler !== 'function') throw new Error('no handler');`;
        const args = ['--input-type=module', '-e', script];
        const withoutMaps = Object.fromEntries(Object.entries(fn.env).filter(([k]) => k !== 'NODE_OPTIONS'));
        perFunction.get(fn.name)!.maps.push(timeNode(args, fn.env));
        perFunction.get(fn.name)!.plain.push(timeNode(args, withoutMaps));
      }
    }
    const emptyNodeMs = median(empty);
    const functions = fns.map((fn): BundleFigures => {
      const bytes = statSync(fn.file).size;
      const map = statSync(`${fn.file}.map`).size;
      const t = perFunction.get(fn.name)!;
      return {
        name: fn.name,
        bytes,
        bytesWithMap: bytes + map,
        netInitMs: round(median(t.maps) - emptyNodeMs, 1),
        netInitNoSourceMapsMs: round(median(t.plain) - emptyNodeMs, 1),
        largestParts: largestParts(meta, fn.name),
      };
    });
    return {
      samples,
      emptyNodeMs: round(emptyNodeMs, 1),
      functions,
      maxBytes: Math.max(...functions.map((f) => f.bytes)),
      maxBytesWithMap: Math.max(...functions.map((f) => f.bytesWithMap)),
      maxNetMs: Math.max(...functions.map((f) => f.netInitMs)),
      maxNetNoSourceMapsMs: Math.max(...functions.map((f) => f.netInitNoSourceMapsMs)),
    };
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}
