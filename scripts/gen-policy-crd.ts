/**
 * Writes manifests/crds/tracegatepolicy.yaml from policies/policy.schema.json (`npm run crd:policy`).
 * With --check, writes nothing and exits 1 when the file is stale (the unit test does the same);
 * --out FILE names another file (the test checks a stale copy that way).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { packageRoot, policySchemaPath } from '../src/paths.js';
import { renderPolicyCrd } from '../src/policy/crd-file.js';

const { values } = parseArgs({ options: { check: { type: 'boolean' }, out: { type: 'string' } } });
const target = values.out ? resolve(values.out) : join(packageRoot, 'manifests', 'crds', 'tracegatepolicy.yaml');
const text = renderPolicyCrd(JSON.parse(await readFile(policySchemaPath, 'utf8')) as object);
if (values.check) {
  const current = await readFile(target, 'utf8').catch(() => '');
  if (current !== text) {
    process.stderr.write(`${target} is stale: run npm run crd:policy\n`);
    process.exitCode = 1;
  }
} else {
  await writeFile(target, text);
  process.stdout.write(`wrote ${target}\n`);
}
