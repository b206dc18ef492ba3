/**
 * The commands the README shows, so that tests run them as written and break when the README
 * changes: the `npx kms-reimport ...` lines of the first ```sh block under a `## ` heading.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const README = fileURLToPath(new URL('../../README.md', import.meta.url));

/** Each `npx kms-reimport` line of the section's first sh block, as its arguments (comments cut off). */
export function readmeCommands(heading: string): string[][] {
  const text = readFileSync(README, 'utf8');
  const start = text.indexOf(`\n## ${heading}\n`);
  if (start < 0) throw new Error(`README.md has no section "## ${heading}"`);
  const section = text.slice(start + 1).split(/\n## /)[0]!;
  const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1];
  if (!block) throw new Error(`README.md section "${heading}" has no \`\`\`sh block`);
  const commands = block
    .split('\n')
    .map((line) => line.replace(/\s+#.*$/, '').trim())
    .filter((line) => line.startsWith('npx kms-reimport '))
    .map((line) => line.split(/\s+/).slice(2));
  if (commands.length === 0) throw new Error(`README.md section "${heading}" shows no npx kms-reimport command`);
  return commands;
}
