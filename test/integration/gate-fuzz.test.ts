/**
 * Seeded fuzzing of the admission path: reviews from the shared fixtures and the builders, mutated
 * (types changed, keys deleted, prototype-key names, deep nesting, huge strings, wrong kinds), are
 * decoded and judged in process exactly as the server does it, and a few hundred are sent over HTTPS.
 * Whatever the input: never a 5xx (a thrown handler), the uid echoed on every 200, and every JSONPatch
 * applies to its object as the apiserver applies it. The seed is fixed: a failure reproduces.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { tracegateKeys } from '../../src/admission/annotations.js';
import { createChangeIdSource } from '../../src/admission/change-id.js';
import { createMutator } from '../../src/admission/mutate.js';
import { reviewResponse } from '../../src/admission/review.js';
import type { AdmissionRequest } from '../../src/admission/types.js';
import { createValidator, type Handled } from '../../src/admission/validate.js';
import { CONFIG_DEFAULTS } from '../../src/config.js';
import { isTracegateError } from '../../src/errors.js';
import type { KubeObject } from '../../src/k8s/types.js';
import { bundledPoliciesDir, policySchemaPath } from '../../src/paths.js';
import { createMacKeyring } from '../../src/provenance/mac.js';
import { createPolicyLoader, readPolicySchema } from '../../src/policy/load.js';
import { decodeReview } from '../../src/server/review-body.js';
import { loadNamespaceFile } from '../../src/tenancy/namespace-file.js';
import { createTenantResolver } from '../../src/tenancy/resolve.js';
import { REPO_ROOT, TEST_NAMESPACES_YAML, admissionFixtures, reviewFor, startGateHarness, type GateHarness } from '../support/gate-harness.js';
import { applyPatchAsApiserver } from '../support/json-patch.js';

/** Mutated reviews judged in process per run: thousands, in a couple of seconds. */
const IN_PROCESS_CASES = 3000;
/** Of those, sent over HTTPS to a real gate (the server's own paths: reading, answering, logging). */
const HTTPS_CASES = 300;
/** Requests in flight at once over HTTPS. */
const HTTPS_PARALLEL = 8;
const SEED = 0x7ace9a7e;
/** A hang guard, not a speed check. */
const HANG_GUARD_MS = 120_000;
/** Longest answer text a refusal may have: a reason, never an echo. */
const MAX_REASON_CHARS = 1_000;

/** mulberry32: a small seeded generator, the same sequence on every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PROTO_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__', 'isPrototypeOf'];
const KINDS = ['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job', 'CronJob', 'ReplicationController', 'Pod', 'Scale', 'ConfigMap', 'Secret', ''];

/** A JSON value nested `depth` levels, without recursion. */
function nested(depth: number): unknown {
  let v: unknown = 'leaf';
  for (let i = 0; i < depth; i++) v = i % 2 ? [v] : { k: v };
  return v;
}

/** An object with an own key named `key` (`__proto__` included, as JSON.parse makes it). */
function withKey(key: string, value: unknown): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  Object.defineProperty(o, key, { value, enumerable: true, writable: true, configurable: true });
  return o;
}

/** Every path (as keys) to a value in `doc`, down to `maxDepth`. */
function paths(doc: unknown, maxDepth = 14): (string | number)[][] {
  const out: (string | number)[][] = [];
  const stack: [unknown, (string | number)[]][] = [[doc, []]];
  while (stack.length) {
    const [v, p] = stack.pop()!;
    if (p.length) out.push(p);
    if (p.length >= maxDepth || v === null || typeof v !== 'object') continue;
    if (Array.isArray(v)) v.forEach((e, i) => stack.push([e, [...p, i]]));
    else for (const k of Object.keys(v)) stack.push([(v as Record<string, unknown>)[k], [...p, k]]);
  }
  return out;
}

function parentOf(doc: any, path: (string | number)[]): any {
  let node = doc;
  for (const k of path.slice(0, -1)) node = node?.[k];
  return node;
}

/** The base reviews: every shared fixture, and builder-made reviews of each workload kind. */
function baseReviews(): any[] {
  const container = { name: 'app', image: 'registry.example.com/team-a/app:1.2.3', resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '1', memory: '256Mi' } } };
  const podSpec = { containers: [container], initContainers: [{ ...container, name: 'init' }] };
  const template = { metadata: { labels: { app: 'app' }, annotations: { 'tracegate.io/commit': 'abc123' } }, spec: podSpec };
  const meta = (name: string) => ({ name, namespace: 'team-a', labels: { app: name }, annotations: { 'tracegate.io/approver': 'bob' } });
  const objects: KubeObject[] = [
    { apiVersion: 'apps/v1', kind: 'Deployment', metadata: meta('dep'), spec: { replicas: 2, selector: { matchLabels: { app: 'app' } }, template } },
    { apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: meta('sts'), spec: { serviceName: 'sts', selector: { matchLabels: { app: 'app' } }, template } },
    { apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: meta('ds'), spec: { selector: { matchLabels: { app: 'app' } }, template } },
    { apiVersion: 'batch/v1', kind: 'CronJob', metadata: meta('cj'), spec: { schedule: '* * * * *', jobTemplate: { spec: { template } } } },
    { apiVersion: 'batch/v1', kind: 'Job', metadata: meta('job'), spec: { template } },
    { apiVersion: 'v1', kind: 'Pod', metadata: meta('pod'), spec: podSpec },
  ];
  const built = objects.flatMap((o) => [reviewFor(o), reviewFor({ ...o, metadata: { ...o.metadata, labels: { app: 'v2' } } }, { oldObject: o })]);
  return [...admissionFixtures().map((f) => f.review), ...built];
}

/** `o[k] = v` when `o` is an object (earlier mutations may have turned any node into a scalar). */
function put(o: unknown, k: string | number, v: unknown): void {
  if (o !== null && typeof o === 'object') (o as Record<string | number, unknown>)[k] = v;
}

const isObj = (v: unknown): v is Record<string, any> => v !== null && typeof v === 'object';

/** One random mutation of `review` in place. */
function mutate(review: any, rand: () => number): void {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)]!;
  const all = paths(review);
  const target = pick(all);
  const parent = parentOf(review, target);
  const key = target[target.length - 1]!;
  const huge = () => 'h'.repeat(pick([300, 3_000, 30_000]));
  const wrongValue = () => pick<() => unknown>([
    () => null, () => 0, () => -1, () => 1.5, () => true, () => '', () => 'x', () => pick(PROTO_KEYS), () => [], () => ({}), () => [null],
    () => withKey(pick(PROTO_KEYS), { a: 1 }), () => nested(pick([5, 100, 250, 300])), () => huge(),
  ])();
  const r = isObj(review.request) ? review.request : {};
  switch (Math.floor(rand() * 9)) {
    case 0:
    case 1:
      put(parent, key, wrongValue());
      return;
    case 2:
      if (Array.isArray(parent)) parent.splice(Number(key), 1);
      else if (isObj(parent)) delete parent[key];
      return;
    case 3: {
      // A prototype-key name as a key somewhere, or as a kind.
      const k = pick(PROTO_KEYS);
      const which = pick(['request.kind', 'object', 'oldObject', 'both', 'key']);
      if (which === 'request.kind') put(r.kind, 'kind', k);
      else if (which === 'object') put(r.object, 'kind', k);
      else if (which === 'oldObject') put(r.oldObject, 'kind', k);
      else if (which === 'both') for (const o of [r.kind, r.object, r.oldObject]) put(o, 'kind', k);
      else if (isObj(parent) && !Array.isArray(parent)) Object.defineProperty(parent, k, { value: wrongValue(), enumerable: true, writable: true, configurable: true });
      return;
    }
    case 4:
      put(parent, key, nested(pick([200, 255, 256, 257, 1_000, 3_000])));
      return;
    case 5:
      // Now and then a string of megabytes (each costs real time to send and parse).
      put(parent, key, rand() < 0.01 ? 'H'.repeat(1_500_000) : huge());
      return;
    case 6: {
      // Wrong or mismatched kinds.
      const k = pick(KINDS);
      if (rand() < 0.5) put(r.kind, 'kind', k);
      if (rand() < 0.5) put(r.object, 'kind', rand() < 0.5 ? k : r.kind?.kind);
      if (rand() < 0.3) put(r.oldObject, 'kind', k);
      return;
    }
    case 7:
      put(r, 'operation', pick(['CREATE', 'UPDATE', 'DELETE', 'CONNECT', 'PATCH', 7]));
      return;
    default: {
      // Shape changes the gate reads: metadata, spec and the template path.
      const obj = pick([r.object, r.oldObject]);
      if (!isObj(obj)) return;
      const spot = pick(['metadata', 'spec', 'template', 'templateMeta', 'annotations', 'managedFields']);
      if (spot === 'metadata') obj.metadata = wrongValue();
      else if (spot === 'spec') obj.spec = wrongValue();
      else if (spot === 'template') put(obj.spec, 'template', wrongValue());
      else if (spot === 'templateMeta') put(obj.spec?.template, 'metadata', wrongValue());
      else if (spot === 'annotations') put(obj.metadata, 'annotations', pick([wrongValue(), withKey(pick(PROTO_KEYS), pick(['v', 1, null]))]));
      else if (spot === 'managedFields') put(obj.metadata, 'managedFields', pick([wrongValue(), [wrongValue()], [{ manager: wrongValue(), fieldsV1: nested(300) }]]));
    }
  }
}

/** Serialises a review that may hold deep nesting (JSON.stringify recurses; beyond ~3,000 levels it may not). */
function serialise(review: unknown): string | undefined {
  try {
    return JSON.stringify(review);
  } catch {
    return undefined;
  }
}

/** The fuzzed bodies, generated once from the seed. */
function generate(count: number): string[] {
  const rand = prng(SEED);
  const bases = baseReviews();
  const out: string[] = [];
  while (out.length < count) {
    const review = structuredClone(bases[Math.floor(rand() * bases.length)]);
    for (let n = 1 + Math.floor(rand() * 3); n > 0; n--) mutate(review, rand);
    const text = serialise(review);
    if (text !== undefined) out.push(text);
  }
  return out;
}

interface Engine {
  validate: (r: AdmissionRequest) => Handled;
  mutate: (r: AdmissionRequest) => Handled;
}

/** The handlers as startGate wires them: bundled policies, the test namespaces, pooled change ids. */
async function createEngine(dir: string): Promise<Engine> {
  const prefix = CONFIG_DEFAULTS.annotationPrefix;
  const file = join(dir, 'namespaces.yaml');
  await writeFile(file, TEST_NAMESPACES_YAML);
  const policies = await createPolicyLoader({ schema: await readPolicySchema(policySchemaPath), annotationPrefix: prefix }).load([bundledPoliciesDir], REPO_ROOT);
  const tenantOf = createTenantResolver({ tenantLabel: CONFIG_DEFAULTS.tenantLabel }, await loadNamespaceFile(file));
  const keys = tracegateKeys(prefix);
  const keyring = createMacKeyring([{ id: 'fuzz', secret: Buffer.alloc(32, 7) }]);
  return {
    validate: createValidator({ policies: () => policies, tenantOf, keys, prefix, keyring }),
    mutate: createMutator({ policies: () => policies, tenantOf, keys, prefix, keyring, newId: createChangeIdSource() }),
  };
}

/** Checks one webhook's answer to a decoded request; returns a failure description or undefined. */
function checkAnswer(webhook: 'validate' | 'mutate', request: AdmissionRequest, response: any): string | undefined {
  if (response?.uid !== request.uid) return `${webhook}: uid not echoed`;
  if (typeof response.allowed !== 'boolean') return `${webhook}: allowed is not a boolean`;
  if (response.patch === undefined) return undefined;
  if (webhook === 'validate') return 'validate returned a patch';
  const applied = applyPatchAsApiserver(request.object, response.patch);
  return applied.ok ? undefined : `mutate: the patch does not apply: ${applied.error}`;
}

let dir: string;
let engine: Engine;
let bodies: string[];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tracegate-fuzz-'));
  engine = await createEngine(dir);
  bodies = generate(IN_PROCESS_CASES);
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('fuzzed reviews', { timeout: HANG_GUARD_MS }, () => {
  it(`${IN_PROCESS_CASES} mutated reviews in process: a 4xx or a proper answer, never a throw, every patch applies`, () => {
    const failures: string[] = [];
    let answered = 0;
    let refused = 0;
    bodies.forEach((text, i) => {
      let request: AdmissionRequest;
      try {
        request = decodeReview(Buffer.from(text));
      } catch (err) {
        if (!isTracegateError(err) || err.httpStatus >= 500) failures.push(`#${i} decode: ${String((err as Error)?.stack ?? err).slice(0, 400)}`);
        else if (err.message.length > MAX_REASON_CHARS) failures.push(`#${i} a reason of ${err.message.length} characters`);
        refused++;
        return;
      }
      for (const webhook of ['validate', 'mutate'] as const) {
        try {
          const { response } = engine[webhook](request);
          // The server's own serialisation of the answer must work too.
          const answer = JSON.parse(JSON.stringify(reviewResponse(response)));
          const problem = checkAnswer(webhook, request, answer.response);
          if (problem) failures.push(`#${i} ${problem}`);
        } catch (err) {
          failures.push(`#${i} ${webhook} threw (a 500): ${String((err as Error)?.stack ?? err).slice(0, 600)}`);
        }
      }
      answered++;
    });
    assert.deepEqual(failures.slice(0, 10), [], `${failures.length} failures`);
    // The mutations must leave both outcomes common, or the fuzzing proves little.
    assert.ok(answered > IN_PROCESS_CASES / 10, `only ${answered} reviews were answered`);
    assert.ok(refused > IN_PROCESS_CASES / 10, `only ${refused} reviews were refused`);
  });

  it(`${HTTPS_CASES} of them over HTTPS: no 5xx, the uid on every 200, every patch applies`, async () => {
    const h: GateHarness = await startGateHarness();
    try {
      const failures: string[] = [];
      const statuses = new Map<number, number>();
      let next = 0;
      const worker = async () => {
        while (next < HTTPS_CASES) {
          const i = next++;
          const text = bodies[i]!;
          const path = i % 2 ? '/mutate' : '/validate';
          const res = await h.review(path, text);
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
          if (res.status >= 500) failures.push(`#${i} ${path}: ${res.status} ${res.text.slice(0, 300)}`);
          if (res.text.length > MAX_REASON_CHARS && res.status !== 200) failures.push(`#${i} ${path}: an answer of ${res.text.length} bytes`);
          if (res.status !== 200) continue;
          const request = JSON.parse(text).request;
          const problem = checkAnswer(path === '/mutate' ? 'mutate' : 'validate', request, res.json?.response);
          if (problem) failures.push(`#${i} ${problem}`);
        }
      };
      await Promise.all(Array.from({ length: HTTPS_PARALLEL }, worker));
      assert.deepEqual(failures.slice(0, 10), [], `${failures.length} failures; statuses ${JSON.stringify([...statuses])}`);
      assert.ok((statuses.get(200) ?? 0) > 0 && (statuses.get(400) ?? 0) > 0, JSON.stringify([...statuses]));
      assert.doesNotMatch(h.logs.text(), /"level":"error"/, 'no internal error was logged');
    } finally {
      await h.close();
    }
  });
});
