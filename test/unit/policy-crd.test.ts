/**
 * The TracegatePolicy CRD (manifests/crds/tracegatepolicy.yaml), generated from the policy JSON Schema:
 * the checked-in file is what the generator writes now; its schema is structural (what apiextensions
 * requires, as the test API server's CRD validation models it) and keeps the schema's constraints; and
 * the apiserver-side validation (the test API server's model of it) admits every bundled policy and
 * refuses malformed ones, as the gate's ajv does.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { isRecord } from '../../src/k8s/types.js';
import { bundledPoliciesDir, packageRoot, policySchemaPath } from '../../src/paths.js';
import { renderPolicyCrd } from '../../src/policy/crd-file.js';
import { policyCrd } from '../../src/policy/crd-schema.js';
import { createPolicyLoader, readPolicySchema } from '../../src/policy/load.js';
import { toTracegatePolicy } from '../../src/policy/tracegate-policy.js';
import { validateAgainstSchema } from '../support/api-server/cr-validation.js';
import { validateCrd } from '../support/api-server/crd-validation.js';

type Json = Record<string, any>;

const CRD_FILE = join(packageRoot, 'manifests', 'crds', 'tracegatepolicy.yaml');
const policySchema = (await readPolicySchema(policySchemaPath)) as Json;
const crd = policyCrd(policySchema) as Json;
const openApi = crd['spec']['versions'][0]['schema']['openAPIV3Schema'] as Json;
const loader = createPolicyLoader({ schema: policySchema });

/** Every schema node with its path (JSON Schema `$ref`s followed into `defs`). */
function* nodes(node: unknown, path = '', defs: Json = {}): Generator<[string, Json]> {
  if (!isRecord(node)) return;
  if (typeof node['$ref'] === 'string') return yield* nodes(defs[node['$ref'].replace('#/definitions/', '')], path, defs);
  yield [path, node];
  for (const [k, v] of Object.entries(node['properties'] ?? {})) yield* nodes(v, `${path}.${k}`, defs);
  for (const sub of ['additionalProperties', 'items', 'propertyNames']) if (isRecord(node[sub])) yield* nodes(node[sub], `${path}.${sub}`, defs);
  for (const j of ['oneOf', 'anyOf', 'allOf']) for (const [i, v] of ((node[j] ?? []) as unknown[]).entries()) yield* nodes(v, `${path}.${j}[${i}]`, defs);
}

/** How many schema nodes (outside `skip`) carry `keyword`. */
function count(node: unknown, keyword: string, defs: Json = {}, skip = /^$/): number {
  return [...nodes(node, '', defs)].filter(([path, n]) => n[keyword] !== undefined && !skip.test(path)).length;
}

/** A TracegatePolicy validated as the apiserver validates it: pruning aside, against the version's schema. */
function apiserverErrors(obj: Json): string[] {
  return validateAgainstSchema(obj, openApi).map((e) => `${e.field}: ${e.message}`);
}

describe('the TracegatePolicy CRD file', () => {
  it('is up to date with policies/policy.schema.json (run npm run crd:policy when this fails)', async () => {
    assert.equal(await readFile(CRD_FILE, 'utf8'), renderPolicyCrd(policySchema));
  });

  it('is a valid, cluster-scoped CRD with a status subresource and printer columns', () => {
    // As stored: the apiserver defaults the conversion strategy and its controller fills the status.
    const withStatus = { ...crd, spec: { conversion: { strategy: 'None' }, ...crd['spec'] }, status: { storedVersions: ['v1alpha1'], acceptedNames: crd['spec']['names'] } };
    assert.deepEqual(validateCrd(withStatus, undefined), []);
    assert.equal(crd['metadata']['name'], 'tracegatepolicies.tracegate.io');
    assert.equal(crd['spec']['scope'], 'Cluster');
    const version = crd['spec']['versions'][0];
    assert.deepEqual(version['subresources'], { status: {} });
    assert.deepEqual(version['additionalPrinterColumns'].map((c: Json) => c['name']), ['Version', 'Rules', 'Ready', 'Reason', 'Digest', 'Age']);
  });

  it('has a structural schema: no $ref, no additionalProperties: false, no uniqueItems, a type on every node', () => {
    const text = JSON.stringify(openApi);
    for (const banned of ['"$ref"', '"definitions"', '"uniqueItems"', '"additionalProperties":false', '"const"', '"propertyNames"']) assert.ok(!text.includes(banned), banned);
    for (const [path, node] of nodes(openApi)) {
      if (/\.(oneOf|anyOf|allOf)\[\d+\]$/.test(path)) {
        assert.deepEqual(Object.keys(node), ['required'], `${path}: a junctor only constrains values`);
        continue;
      }
      assert.ok(typeof node['type'] === 'string' || node['x-kubernetes-int-or-string'] === true, `${path || '(root)'} has no type`);
      assert.ok(!(node['properties'] && node['additionalProperties']), `${path}: properties and additionalProperties together`);
    }
    // Only the root's metadata.name may be restricted.
    assert.deepEqual(Object.keys(openApi['properties']['metadata']['properties']), ['name']);
  });

  it('keeps every enum, pattern, bound and required list of the policy schema', () => {
    const defs = policySchema['definitions'];
    const spec = openApi['properties']['spec'];
    // The spec and the three metadata fields that moved into it; propertyNames is the one constraint left to the gate.
    const { name: _name, ...moved } = policySchema['properties']['metadata']['properties'];
    const source = { properties: { ...policySchema['properties']['spec']['properties'], ...moved } };
    const leftToTheGate = /\.propertyNames$/;
    for (const keyword of ['enum', 'pattern', 'minLength', 'maxLength', 'minimum', 'maximum', 'minItems', 'minProperties', 'required', 'oneOf']) {
      assert.equal(count(spec, keyword), count(source, keyword, defs, leftToTheGate), keyword);
    }
    assert.equal(count(spec, 'x-kubernetes-list-type'), count(source, 'uniqueItems', defs), 'every uniqueItems list is a set');
    assert.equal(count(source, 'propertyNames', defs), 5, 'the five quantity maps');
    assert.deepEqual(openApi['properties']['metadata']['properties']['name'], { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', maxLength: 63 });
  });
});

describe('apiserver validation with the CRD schema', () => {
  it('admits every bundled policy as a TracegatePolicy', async () => {
    const set = await loader.load([bundledPoliciesDir], packageRoot);
    for (const p of set.policies) assert.deepEqual(apiserverErrors(toTracegatePolicy(p.document)), [], p.name);
  });

  it('refuses what the policy schema refuses: a bad enum, a bad name pattern, two checks in a rule, a missing field, a bound', () => {
    const base = (rule: Json, spec: Json = {}): Json => ({ apiVersion: 'tracegate.io/v1alpha1', kind: 'TracegatePolicy', metadata: { name: 'p' }, spec: { rules: [rule], ...spec } });
    const cases: [Json, RegExp][] = [
      [base({ id: 'r', action: 'block', images: { requireTag: true } }), /^spec\.rules\[0\]\.action: Unsupported value: "block": supported values: "deny", "warn", "audit"$/],
      [base({ id: 'Bad_Id', images: { requireTag: true } }), /^spec\.rules\[0\]\.id: Invalid value: "Bad_Id": spec\.rules\[0\]\.id in body should match/],
      [base({ id: 'r', images: { requireTag: true }, revisionHistory: { minimum: 3 } }), /must validate one and only one schema \(oneOf\)/],
      [base({ id: 'r', revisionHistory: {} }), /^spec\.rules\[0\]\.revisionHistory\.minimum: Required value$/],
      [base({ id: 'r', revisionHistory: { minimum: 0 } }), /should be greater than or equal to 1$/],
      [base({ id: 'r', images: { requireTag: true } }, { version: '' }), /^spec\.version: Invalid value: "": spec\.version in body should be at least 1 chars long$/],
    ];
    for (const [obj, expected] of cases) {
      const errors = apiserverErrors(obj);
      assert.ok(errors.some((e) => expected.test(e)), `${JSON.stringify(obj['spec'])}: ${errors.join(' | ') || 'admitted'}`);
      // The gate's ajv refuses it too (the CRD never admits what the gate would load).
      assert.equal(loader.check(obj, { file: 'x', document: 0 }).ok, false, JSON.stringify(obj['spec']));
    }
  });

  it('admits a quantity as a string or an integer; a fraction is written as a string (the Kubernetes idiom)', () => {
    const fraction = { apiVersion: 'tracegate.io/v1alpha1', kind: 'TracegatePolicy', metadata: { name: 'f' }, spec: { rules: [{ id: 'r', resources: { maxLimitRequestRatio: { cpu: 1.5 } } }] } };
    assert.deepEqual(apiserverErrors(fraction), ['spec.rules[0].resources.maxLimitRequestRatio.cpu: Invalid value: "number": spec.rules[0].resources.maxLimitRequestRatio.cpu in body must be of type integer,string: "number"']);
    assert.equal(loader.check(fraction, { file: 'x', document: 0 }).ok, true, 'a file may say 1.5');
    const obj = { apiVersion: 'tracegate.io/v1alpha1', kind: 'TracegatePolicy', metadata: { name: 'q' }, spec: { rules: [{ id: 'r', resources: { maxLimits: { cpu: '1500m', memory: 2147483648 } } }] } };
    assert.deepEqual(apiserverErrors(obj), []);
    assert.equal(loader.check(obj, { file: 'x', document: 0 }).ok, true);
  });
});

describe('the generator', () => {
  it('refuses a schema keyword it cannot carry over, rather than dropping a constraint silently', () => {
    const schema = structuredClone(policySchema);
    schema['definitions']['dnsLabel']['multipleOf'] = 2;
    assert.throws(() => policyCrd(schema), /keyword "multipleOf" has no CRD form/);
  });

  it('npm run crd:policy -- --check exits 1 on a stale file and 0 on a fresh one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tracegate-crd-'));
    const run = (file: string) =>
      promisify(execFile)(process.execPath, ['--import', 'tsx', join(packageRoot, 'scripts', 'gen-policy-crd.ts'), '--check', '--out', file], { cwd: packageRoot }).then(
        () => ({ code: 0, stderr: '' }),
        (err: { code: number; stderr: string }) => ({ code: err.code, stderr: err.stderr }),
      );
    try {
      const fresh = join(dir, 'fresh.yaml');
      const stale = join(dir, 'stale.yaml');
      await writeFile(fresh, renderPolicyCrd(policySchema));
      // What an edit of the policy schema without a regeneration leaves behind: an enum value the CRD lacks.
      const schema = structuredClone(policySchema);
      schema['definitions']['action']['enum'] = ['deny', 'warn'];
      await writeFile(stale, renderPolicyCrd(schema));
      assert.deepEqual(await run(fresh), { code: 0, stderr: '' });
      const res = await run(stale);
      assert.equal(res.code, 1);
      assert.match(res.stderr, /stale\.yaml is stale: run npm run crd:policy/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('writes YAML that parses back to the same CRD', () => {
    assert.deepEqual(parse(renderPolicyCrd(policySchema)), crd);
  });
});
