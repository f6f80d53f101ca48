/**
 * `npm run chart:docs`: writes the chart's values table into README.md between its markers
 * (scripts/lib/chart-docs.ts). With --check, writes nothing and exits 1 while the table is stale.
 * With --out FILE, writes the table (markers included) to FILE instead and leaves README.md alone,
 * for a change whose README text is written elsewhere first.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { TABLE_END, TABLE_START, valueRows, valuesTable, withValuesTable } from './lib/chart-docs.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const chart = join(root, 'charts', 'tracegate');
const schema = JSON.parse(await readFile(join(chart, 'values.schema.json'), 'utf8')) as Record<string, unknown>;
const values: unknown = parse(await readFile(join(chart, 'values.yaml'), 'utf8'));
const table = valuesTable(valueRows(schema, values));
const outAt = process.argv.indexOf('--out');
if (outAt !== -1) {
  const out = process.argv[outAt + 1];
  if (!out) throw new Error('--out needs a file');
  await writeFile(out, `${TABLE_START}\n${table}\n${TABLE_END}\n`);
  process.stdout.write(`wrote the values table to ${out}\n`);
  process.exit(0);
}
const readmePath = join(root, 'README.md');
const readme = await readFile(readmePath, 'utf8');
const next = withValuesTable(readme, table);
if (process.argv.includes('--check')) {
  if (next !== readme) {
    process.stderr.write('the values table in README.md is stale: run npm run chart:docs\n');
    process.exitCode = 1;
  }
} else if (next !== readme) {
  await writeFile(readmePath, next);
  process.stdout.write('wrote the values table in README.md\n');
} else {
  process.stdout.write('README.md values table is up to date\n');
}
