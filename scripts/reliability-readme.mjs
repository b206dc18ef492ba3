#!/usr/bin/env node
// Writes the README's "Reliability" section from the reliability suite's results (test/reliability/).
//
//   node scripts/reliability-readme.mjs --run      run the suite (recording every scenario), then write the section
//   node scripts/reliability-readme.mjs            write the section from the last recorded results
//
// The suite records one JSON line per scenario (file, group, scenario, result, detail) in the file
// named by KMS_REIMPORT_RELIABILITY_REPORT (test/reliability/support.ts); --run sets it to
// test/reliability/results.jsonl, starting from an empty file. The section replaces the README's
// "## Reliability" (or goes before "## The local endpoint"). --long runs the long variant
// (KMS_REIMPORT_RELIABILITY_LONG=1). --check exits 1 if the README section differs (for CI).
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const REPORT = join(root, 'test/reliability/results.jsonl');
const README = join(root, 'README.md');
const args = new Set(process.argv.slice(2));
const long = args.has('--long');

if (args.has('--run')) {
  rmSync(REPORT, { force: true });
  const run = spawnSync(process.execPath, [join(root, 'scripts/test.mjs'), join(root, 'test/reliability')], {
    stdio: 'inherit',
    env: { ...process.env, KMS_REIMPORT_RELIABILITY_REPORT: REPORT, ...(long ? { KMS_REIMPORT_RELIABILITY_LONG: '1' } : {}) },
  });
  if (run.status !== 0) console.error(`reliability suite exited ${run.status}: the section shows what failed`);
}

if (!existsSync(REPORT)) {
  console.error(`no results at ${REPORT}: run with --run first`);
  process.exit(1);
}
// The suite's files run in parallel and append as they go: order by file (stable: a file's own order is kept).
const records = readFileSync(REPORT, 'utf8')
  .split('\n')
  .filter((line) => line.trim() !== '')
  .map((line) => JSON.parse(line))
  .sort((a, b) => a.file.localeCompare(b.file));

const GROUPS = [
  ['properties', 'Properties (fast-check, generated input)'],
  ['faults', 'Faults (each ends in the right outcome, one import per key, escrow unchanged)'],
  ['leak scan', 'Leak scan (raw, hex, base64 and base64url of every material)'],
];
const cell = (text) => String(text).replaceAll('|', '\\|').replaceAll('\n', ' ');
const RESULT = { pass: 'pass', fail: '**FAIL**', todo: 'known bug' };

const passed = records.filter((r) => r.result === 'pass').length;
const failed = records.filter((r) => r.result === 'fail').length;
const bugs = records.filter((r) => r.result === 'todo');

const lines = [
  '## Reliability',
  '',
  '`test/reliability/` runs in CI with the other tests: property-based tests with fast-check over the',
  'entry points that take input from outside (events, escrow secrets, command lines, raw HTTP to the local',
  'endpoint), fault scenarios against the local endpoint over HTTP with the real SDK, and a leak scan over',
  'everything the suite produced. Failing seeds are kept as regression cases (fast-check `examples`, or a',
  '`todo` test with the counterexample while the bug is open, a plain test once it is fixed). The default',
  'sizes keep the folder under three minutes of CPU (about 65 s on this project\'s 2-core machine);',
  '`KMS_REIMPORT_RELIABILITY_LONG=1` runs ten times the generated cases and repeats every broken answer',
  'past the retries; `KMS_REIMPORT_RELIABILITY_SEED=<n>` replays a seed fast-check printed.',
  '',
  'This section is generated: `node scripts/reliability-readme.mjs --run` (add `--long` for the long variant).',
  `Last run: ${new Date().toISOString().slice(0, 10)}, Node ${process.version}${long ? ', long variant' : ''}: ${passed} scenarios passed, ${failed} failed; ${new Set(bugs.map((b) => b.detail)).size} known bugs (${bugs.length} todo cases).`,
  '',
];
for (const [group, title] of GROUPS) {
  const rows = records.filter((r) => r.group === group && r.result !== 'todo');
  if (rows.length === 0) continue;
  lines.push(`**${title}**`, '', '| Scenario | Result | What was shown |', '| --- | --- | --- |');
  for (const r of rows) lines.push(`| ${cell(r.scenario)} | ${RESULT[r.result] ?? r.result} | ${cell(r.detail)} |`);
  lines.push('');
}
if (bugs.length > 0) {
  // One row per bug, with every case that reproduces it.
  const byBug = new Map();
  for (const r of bugs) byBug.set(r.detail, [...(byBug.get(r.detail) ?? []), r]);
  lines.push('**Known bugs found by the suite** (each case a `todo` test that reproduces it, until it is fixed)', '', '| Bug | Cases | File |', '| --- | --- | --- |');
  for (const [detail, cases] of byBug) {
    lines.push(`| ${cell(detail.replace(/^bug: /, ''))} | ${cell(cases.map((c) => c.scenario).join('; '))} | \`${cell(cases[0].file)}\` |`);
  }
  lines.push('');
}
const section = lines.join('\n');

const readme = readFileSync(README, 'utf8');
let next;
const start = readme.indexOf('\n## Reliability\n');
if (start >= 0) {
  const end = readme.indexOf('\n## ', start + 1);
  next = `${readme.slice(0, start + 1)}${section}\n${end >= 0 ? readme.slice(end + 1) : ''}`;
} else {
  const before = readme.indexOf('\n## The local endpoint\n');
  if (before < 0) throw new Error('README.md has no "## The local endpoint" to put the section before');
  next = `${readme.slice(0, before + 1)}${section}\n${readme.slice(before + 1)}`;
}
if (args.has('--check')) {
  // The date line changes with every run: compare the rest.
  const strip = (text) => text.replace(/^Last run: .*$/m, '');
  if (strip(next) !== strip(readme)) {
    console.error('README.md "Reliability" differs from the recorded results: run node scripts/reliability-readme.mjs');
    process.exit(1);
  }
  process.exit(0);
}
writeFileSync(README, next);
console.log(`README.md: "Reliability" written (${records.length} scenarios)`);
