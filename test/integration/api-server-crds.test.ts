/**
 * CustomResourceDefinitions in the test API server, against the real kubectl v1.35, helm v4/v3 and
 * client-node: the repository's ChangeTrail CRD (manifests/crds/changetrail.yaml) applied, established
 * and served; its objects created, listed, printed, patched (merge and JSON; strategic refused) and
 * written by the recorder's trail store; schema violations refused in the apiserver's words; pruning,
 * defaulting and the status/scale subresources on a test CRD; informers; helm charts with `crds/`;
 * and deleting a CRD deleting its objects.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { CustomObjectsApi, KubeConfig, makeInformer } from '@kubernetes/client-node';
import type { KubernetesListObject, KubernetesObject } from '@kubernetes/client-node';
import { createTrailStore } from '../../src/recorder/trail-store.js';
import { trailName } from '../../src/recorder/trail.js';
import type { TrailEntry } from '../../src/recorder/trail.js';
import { startTestApiServer } from '../support/api-server/index.js';
import type { AdmissionHookRequest, TestApiServer } from '../support/api-server/index.js';
import { ensureRealTools, runTool } from '../support/tools.js';
import type { RealTools, ToolResult } from '../support/tools.js';

/** Parsed JSON as the tests read it. */
type Any = Record<string, any>;

const CHANGETRAIL_CRD = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'manifests', 'crds', 'changetrail.yaml');

let server: TestApiServer;
let tools: RealTools;
let dir: string;
let kubeconfig: string;
const calls: AdmissionHookRequest[] = [];

before(async () => {
  tools = await ensureRealTools();
  server = await startTestApiServer();
  dir = await mkdtemp(join(tmpdir(), 'tracegate-crds-test-'));
  kubeconfig = await server.kubeconfig(dir);
  server.setAdmission(async (req) => {
    calls.push(req);
    return { allowed: true, object: req.object };
  });
});

after(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

async function run(bin: string, ...args: string[]): Promise<ToolResult> {
  return runTool(bin, args, { env: { KUBECONFIG: kubeconfig } });
}

/** Runs kubectl and fails with its output unless it exits 0. */
async function kubectl(...args: string[]): Promise<ToolResult> {
  const res = await run(tools.kubectl, ...args);
  assert.equal(res.code, 0, `kubectl ${args.join(' ')} failed:\n${res.stdout}${res.stderr}`);
  return res;
}

/** Runs kubectl expecting it to fail; returns its stderr. */
async function kubectlFails(...args: string[]): Promise<string> {
  const res = await run(tools.kubectl, ...args);
  assert.notEqual(res.code, 0, `kubectl ${args.join(' ')} should have failed:\n${res.stdout}`);
  return res.stderr;
}

async function writeJson(name: string, obj: unknown): Promise<string> {
  const file = join(dir, `${name}.json`);
  await writeFile(file, JSON.stringify(obj));
  return file;
}

function stored(resource: string, namespace: string, name: string): Any {
  const obj = server.store.get(resource, namespace, name);
  assert.ok(obj, `${resource} ${namespace}/${name} is stored`);
  return obj as Any;
}

async function waitFor(what: string, check: () => boolean): Promise<void> {
  // Generous: only bounds a hang, never decides the outcome of a passing test.
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function createNamespace(name: string): void {
  server.store.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
}

async function api(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<{ status: number; headers: Headers; json: Any }> {
  const res = await fetch(new URL(path, server.url), {
    method,
    headers: { Authorization: `Bearer ${server.token()}`, 'Content-Type': contentType },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  return { status: res.status, headers: res.headers, json: (await res.json()) as Any };
}

/** Opens a watch and collects its events until the server ends it. */
function openWatch(path: string): { events: Any[]; ended: Promise<void>; close(): void } {
  const events: Any[] = [];
  let close = (): void => {};
  const ended = new Promise<void>((resolve, reject) => {
    const req = request(new URL(path, server.url), { headers: { Authorization: `Bearer ${server.token()}` } }, (res) => {
      let buffer = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let nl: number;
        while ((nl = buffer.indexOf('\n')) >= 0) {
          events.push(JSON.parse(buffer.slice(0, nl)) as Any);
          buffer = buffer.slice(nl + 1);
        }
      });
      res.on('end', () => resolve());
      res.on('error', () => resolve());
    });
    req.on('error', reject);
    req.end();
    close = () => {
      req.destroy();
      resolve();
    };
  });
  return { events, ended, close: () => close() };
}

function condition(crd: Any, type: string): Any | undefined {
  return (crd['status']?.['conditions'] ?? []).find((c: Any) => c['type'] === type);
}

async function established(name: string): Promise<void> {
  await waitFor(`CRD ${name} established`, () => condition(server.store.get('customresourcedefinitions', '', name) ?? {}, 'Established')?.['status'] === 'True');
}

/** Table rows of `kubectl get` output, split on runs of spaces. */
function rows(stdout: string): string[][] {
  return stdout
    .trim()
    .split('\n')
    .map((l) => l.trim().split(/\s{2,}/));
}

/** `kubectl get` output as records keyed by header, cut at the header's column starts (cells may be empty). */
function table(stdout: string): Record<string, string>[] {
  const [header = '', ...lines] = stdout.replace(/\n$/, '').split('\n');
  const columns = [...header.matchAll(/\S+(?: \S+)*/g)].map((m) => ({ name: m[0], start: m.index }));
  return lines.map((line) => Object.fromEntries(columns.map((c, i) => [c.name, line.slice(c.start, columns[i + 1]?.start ?? line.length).trim()])));
}

function trail(name: string, namespace: string, spec: Any = {}): Any {
  return {
    apiVersion: 'tracegate.io/v1alpha1',
    kind: 'ChangeTrail',
    metadata: { name, namespace, labels: { team: 'a' } },
    spec: {
      workload: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' },
      entries: [{ seq: 1, time: '2026-01-01T00:00:00Z', event: 'change', uid: 'u1', verdict: 'verified' }],
      ...spec,
    },
  };
}

describe('the ChangeTrail CRD', () => {
  const ns = 'trails';
  before(() => createNamespace(ns));

  it('kubectl apply of manifests/crds/changetrail.yaml establishes it, and kubectl wait --for condition=established returns', async () => {
    const res = await kubectl('apply', '-f', CHANGETRAIL_CRD);
    assert.match(res.stdout, /customresourcedefinition.apiextensions.k8s.io\/changetrails.tracegate.io created/);
    await kubectl('wait', '--for', 'condition=established', '--timeout=20s', 'crd/changetrails.tracegate.io');
    const crd = stored('customresourcedefinitions', '', 'changetrails.tracegate.io');
    assert.deepEqual(crd['status']['acceptedNames'], { plural: 'changetrails', singular: 'changetrail', shortNames: ['trail'], kind: 'ChangeTrail', listKind: 'ChangeTrailList' });
    assert.deepEqual(
      crd['status']['conditions'].map((c: Any) => [c['type'], c['status'], c['reason'], c['message']]),
      [
        ['NamesAccepted', 'True', 'NoConflicts', 'no conflicts found'],
        ['Established', 'True', 'InitialNamesAccepted', 'the initial names have been accepted'],
      ],
    );
    assert.deepEqual(crd['status']['storedVersions'], ['v1alpha1']);
    assert.deepEqual(crd['spec']['conversion'], { strategy: 'None' });
    assert.equal(crd['metadata']['generation'], 1);
    const table = rows((await kubectl('get', 'crd')).stdout);
    assert.deepEqual(table[0], ['NAME', 'CREATED AT']);
    assert.equal(table[1]?.[0], 'changetrails.tracegate.io');
    assert.match(table[1]?.[1] ?? '', /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
  });

  it('discovery serves the group, the resource with its short name, and an OpenAPI v3 document', async () => {
    const resources = rows((await kubectl('api-resources', '--api-group=tracegate.io', '--no-headers')).stdout);
    assert.deepEqual(resources, [['changetrails', 'trail', 'tracegate.io/v1alpha1', 'true', 'ChangeTrail']]);
    const groups = (await api('GET', '/apis')).json;
    assert.deepEqual(
      groups['groups'].find((g: Any) => g['name'] === 'tracegate.io'),
      { name: 'tracegate.io', versions: [{ groupVersion: 'tracegate.io/v1alpha1', version: 'v1alpha1' }], preferredVersion: { groupVersion: 'tracegate.io/v1alpha1', version: 'v1alpha1' } },
    );
    const list = (await api('GET', '/apis/tracegate.io/v1alpha1')).json;
    assert.deepEqual(list['resources'][0], { name: 'changetrails', singularName: 'changetrail', namespaced: true, kind: 'ChangeTrail', verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'], shortNames: ['trail'] });
    const index = (await api('GET', '/openapi/v3')).json;
    assert.ok(index['paths']['apis/tracegate.io/v1alpha1'], 'kubectl and helm find the fieldValidation parameter here');
  });

  it('kubectl apply creates a ChangeTrail; get prints the printer columns; list keeps kind and apiVersion on items', async () => {
    await kubectl('apply', '-f', await writeJson('trail-a', trail('deployment.web', ns, { owner: 'argo-cd', sealed: false })));
    await kubectl('create', '-f', await writeJson('trail-b', { ...trail('deployment.api', ns, { release: { name: 'api', namespace: ns } }), metadata: { name: 'deployment.api', namespace: ns, labels: { team: 'b' } } }));
    const printed = table((await kubectl('get', 'changetrails', '-n', ns)).stdout);
    assert.deepEqual(Object.keys(printed[0] ?? {}), ['NAME', 'KIND', 'WORKLOAD', 'RELEASE', 'OWNER', 'SEALED', 'AGE']);
    // A JSONPath that finds nothing gives a null cell, which kubectl prints empty.
    assert.deepEqual({ ...printed[0], AGE: '' }, { NAME: 'deployment.api', KIND: 'Deployment', WORKLOAD: 'web', RELEASE: 'api', OWNER: '', SEALED: '', AGE: '' });
    assert.deepEqual({ ...printed[1], AGE: '' }, { NAME: 'deployment.web', KIND: 'Deployment', WORKLOAD: 'web', RELEASE: '', OWNER: 'argo-cd', SEALED: 'false', AGE: '' });
    assert.match(printed[1]?.['AGE'] ?? '', /^\d+s$/);
    const list = JSON.parse((await kubectl('get', 'trail', '-n', ns, '-o', 'json')).stdout) as Any;
    assert.deepEqual(
      list['items'].map((i: Any) => [i['apiVersion'], i['kind'], i['metadata']['name']]),
      [
        ['tracegate.io/v1alpha1', 'ChangeTrail', 'deployment.api'],
        ['tracegate.io/v1alpha1', 'ChangeTrail', 'deployment.web'],
      ],
    );
    const raw = (await api('GET', `/apis/tracegate.io/v1alpha1/namespaces/${ns}/changetrails`)).json;
    assert.equal(raw['kind'], 'ChangeTrailList');
    const obj = stored('changetrails', ns, 'deployment.web');
    assert.equal(obj['metadata']['generation'], 1);
    assert.ok(obj['metadata']['managedFields'].some((f: Any) => f['manager'] === 'kubectl-client-side-apply'));
  });

  it('label selectors, metadata.name field selectors and limit/continue work; other field selectors are refused', async () => {
    assert.deepEqual(rows((await kubectl('get', 'trail', '-n', ns, '-l', 'team=b', '--no-headers')).stdout).map((r) => r[0]), ['deployment.api']);
    assert.deepEqual(rows((await kubectl('get', 'trail', '-A', '--field-selector', 'metadata.name=deployment.web', '--no-headers')).stdout).map((r) => r[1]), ['deployment.web']);
    assert.match(await kubectlFails('get', 'trail', '-n', ns, '--field-selector', 'spec.owner=argo-cd'), /field label not supported: spec.owner/);
    const page = (await api('GET', `/apis/tracegate.io/v1alpha1/namespaces/${ns}/changetrails?limit=1`)).json;
    assert.equal(page['items'].length, 1);
    const rest = (await api('GET', `/apis/tracegate.io/v1alpha1/namespaces/${ns}/changetrails?limit=1&continue=${page['metadata']['continue']}`)).json;
    assert.equal(rest['items'][0]['metadata']['name'], 'deployment.web');
  });

  it('merge and JSON patches apply; a strategic merge patch is refused with 415 as the apiserver does', async () => {
    await kubectl('patch', 'trail', 'deployment.web', '-n', ns, '--type=merge', '-p', '{"spec":{"owner":"flux"}}');
    await kubectl('patch', 'trail', 'deployment.web', '-n', ns, '--type=json', '-p', '[{"op":"add","path":"/spec/entries/-","value":{"seq":2,"time":"2026-01-02T00:00:00Z","event":"delete","uid":"u1","verdict":"unverified"}}]');
    const obj = stored('changetrails', ns, 'deployment.web');
    assert.equal(obj['spec']['owner'], 'flux');
    assert.deepEqual(obj['spec']['entries'].map((e: Any) => e['seq']), [1, 2]);
    assert.equal(obj['metadata']['generation'], 3, 'every spec change bumps the generation');
    const stderr = await kubectlFails('patch', 'trail', 'deployment.web', '-n', ns, '-p', '{"spec":{"owner":"x"}}');
    assert.match(stderr, /the body of the request was in an unknown format - accepted media types include: application\/json-patch\+json, application\/merge-patch\+json, application\/apply-patch\+yaml/);
    const raw = await api('PATCH', `/apis/tracegate.io/v1alpha1/namespaces/${ns}/changetrails/deployment.web`, { spec: {} }, 'application/strategic-merge-patch+json');
    assert.deepEqual([raw.status, raw.json['reason']], [415, 'UnsupportedMediaType']);
  });

  it('refuses schema violations with the apiserver field paths and wording', async () => {
    const json = await kubectlFails('patch', 'trail', 'deployment.web', '-n', ns, '--type=json', '-p', '[{"op":"replace","path":"/spec/entries/0/seq","value":0}]');
    assert.match(json, /The ChangeTrail "deployment.web" is invalid: spec.entries\[0\].seq: Invalid value: 0: spec.entries\[0\].seq in body should be greater than or equal to 1/);
    const missing = trail('deployment.bad', ns);
    delete missing['spec']['workload'];
    assert.match(await kubectlFails('create', '-f', await writeJson('bad-1', missing)), /The ChangeTrail "deployment.bad" is invalid: spec.workload: Required value/);
    const raw = await api('POST', `/apis/tracegate.io/v1alpha1/namespaces/${ns}/changetrails`, missing);
    assert.deepEqual([raw.status, raw.json['message']], [422, 'ChangeTrail.tracegate.io "deployment.bad" is invalid: spec.workload: Required value']);
    assert.deepEqual(raw.json['details']['causes'], [{ reason: 'FieldValueRequired', message: 'Required value', field: 'spec.workload' }]);
    const enumBad = trail('deployment.bad', ns);
    enumBad['spec']['entries'][0]['event'] = 'rename';
    enumBad['spec']['entries'][0]['time'] = 'yesterday';
    const stderr = await kubectlFails('create', '-f', await writeJson('bad-2', enumBad));
    assert.match(stderr, /spec.entries\[0\].event: Unsupported value: "rename": supported values: "change", "delete"/);
    assert.match(stderr, /spec.entries\[0\].time: Invalid value: "yesterday": spec.entries\[0\].time in body must be of type date-time: "yesterday"/);
    const typeBad = trail('deployment.bad', ns, { sealed: 'yes' });
    assert.match(await kubectlFails('create', '-f', await writeJson('bad-3', typeBad)), /spec.sealed: Invalid value: "string": spec.sealed in body must be of type boolean: "string"/);
    const tooMany = trail('deployment.bad', ns);
    tooMany['spec']['entries'] = Array.from({ length: 501 }, (_, i) => ({ seq: i + 1, time: '2026-01-01T00:00:00Z', event: 'change', uid: 'u', verdict: 'verified' }));
    assert.match(await kubectlFails('create', '-f', await writeJson('bad-4', tooMany)), /spec.entries: Too many: 501: must have at most 500 items/);
    assert.equal(server.store.get('changetrails', ns, 'deployment.bad'), undefined);
  });

  it('unknown fields: Strict (kubectl) refuses them, Warn (client default) prunes with a warning, Ignore prunes silently', async () => {
    const extra = trail('deployment.extra', ns, { colour: 'red' });
    assert.match(await kubectlFails('apply', '-f', await writeJson('extra', extra)), /Error from server \(BadRequest\): error when creating ".*": ChangeTrail in version "v1alpha1" cannot be handled as a ChangeTrail: strict decoding error: unknown field "spec.colour"/);
    const path = `/apis/tracegate.io/v1alpha1/namespaces/${ns}/changetrails`;
    const warned = await api('POST', path, extra);
    assert.equal(warned.status, 201);
    assert.equal(warned.headers.get('warning'), '299 - "unknown field \\"spec.colour\\""');
    assert.equal(stored('changetrails', ns, 'deployment.extra')['spec']['colour'], undefined);
    const ignored = await api('POST', `${path}?fieldValidation=Ignore`, { ...trail('deployment.extra2', ns), bogus: 1 });
    assert.deepEqual([ignored.status, ignored.headers.get('warning'), ignored.json['bogus']], [201, null, undefined]);
    const patched = await api('PATCH', `${path}/deployment.extra?fieldValidation=Strict`, { spec: { colour: 'blue' } }, 'application/merge-patch+json');
    assert.equal(patched.status, 422);
    assert.match(patched.json['message'], /^ "" is invalid: patch: Invalid value: ".*": strict decoding error: unknown field "spec.colour"$/);
  });

  it('a PUT needs a current resourceVersion: stale is 409, missing is 422 (no unconditional updates of custom resources)', async () => {
    const current = stored('changetrails', ns, 'deployment.api');
    const path = `/apis/tracegate.io/v1alpha1/namespaces/${ns}/changetrails/deployment.api`;
    const stale = await api('PUT', path, { ...current, metadata: { ...current['metadata'], resourceVersion: '1' } });
    assert.deepEqual([stale.status, stale.json['reason']], [409, 'Conflict']);
    const { resourceVersion: _rv, ...withoutRv } = current['metadata'];
    const missing = await api('PUT', path, { ...current, metadata: withoutRv });
    assert.equal(missing.status, 422);
    assert.equal(missing.json['message'], 'changetrails.tracegate.io "deployment.api" is invalid: metadata.resourceVersion: Invalid value: 0: must be specified for an update');
    const ok = await api('PUT', path, { ...current, spec: { ...current['spec'], owner: 'me' } });
    assert.equal(ok.status, 200);
  });

  it('?dryRun=All and generateName: the name is generated, nothing is stored', async () => {
    const { metadata: _m, ...rest } = trail('x', ns);
    const res = await api('POST', `/apis/tracegate.io/v1alpha1/namespaces/${ns}/changetrails?dryRun=All`, { ...rest, metadata: { generateName: 'deployment.gen-', namespace: ns } });
    assert.equal(res.status, 201);
    assert.match(res.json['metadata']['name'], /^deployment\.gen-[a-z0-9]{5}$/);
    assert.equal(server.store.get('changetrails', ns, res.json['metadata']['name']), undefined);
    const created = await api('POST', `/apis/tracegate.io/v1alpha1/namespaces/${ns}/changetrails`, { ...rest, metadata: { generateName: 'deployment.gen-' } });
    assert.equal(created.status, 201);
    stored('changetrails', ns, created.json['metadata']['name']);
  });

  it('server-side apply creates and merges with managedFields, conflicts without --force-conflicts, and refuses unknown fields', async () => {
    const file = await writeJson('ssa', trail('deployment.ssa', ns, { owner: 'one' }));
    await kubectl('apply', '--server-side', '--field-manager=first', '-f', file);
    const obj = stored('changetrails', ns, 'deployment.ssa');
    assert.deepEqual(obj['metadata']['managedFields'].map((f: Any) => [f['manager'], f['operation']]), [['first', 'Apply']]);
    const other = await writeJson('ssa-2', trail('deployment.ssa', ns, { owner: 'two' }));
    const conflict = await kubectlFails('apply', '--server-side', '--field-manager=second', '-f', other);
    assert.match(conflict, /Apply failed with \d+ conflicts?: conflict/);
    await kubectl('apply', '--server-side', '--field-manager=second', '--force-conflicts', '-f', other);
    assert.equal(stored('changetrails', ns, 'deployment.ssa')['spec']['owner'], 'two');
    const unknown = await writeJson('ssa-3', trail('deployment.ssa', ns, { colour: 'red' }));
    assert.match(await kubectlFails('apply', '--server-side', '--field-manager=first', '-f', unknown), /failed to create typed patch object \(trails\/deployment.ssa; tracegate.io\/v1alpha1, Kind=ChangeTrail\): .spec.colour: field not declared in schema/);
  });

  it("the recorder's trail store appends entries through client-node's CustomObjectsApi", async () => {
    const kc = new KubeConfig();
    kc.loadFromFile(await server.kubeconfig(await mkdtemp(join(dir, 'recorder-'))));
    const store = createTrailStore({ api: kc.makeApiClient(CustomObjectsApi), prefix: 'tracegate.io/' });
    const ref = { namespace: ns, kind: 'StatefulSet', name: 'db' };
    const entry = (seq: number): TrailEntry => ({ seq, time: new Date(Date.UTC(2026, 0, seq)).toISOString(), event: 'change', uid: 'sts-uid', template: `t${seq}`, verdict: 'verified' });
    const build = (seq: number) => () => ({ entry: entry(seq), opts: { apiVersion: 'apps/v1', prefix: 'tracegate.io/' } });
    await store.append(ref, build(1));
    await store.append(ref, build(2));
    const head = await store.head(ref);
    assert.deepEqual(head?.spec.entries.map((e) => e.seq), [1, 2]);
    assert.equal(head?.metadata.name, trailName(ref));
    assert.equal((await store.all(ref)).length, 1);
  });

  it('the admission hook sees create, update, patch and delete of custom resources with their kind', async () => {
    calls.length = 0;
    await kubectl('label', 'trail', 'deployment.api', '-n', ns, 'reviewed=yes');
    await kubectl('delete', 'trail', 'deployment.extra2', '-n', ns);
    const seen = calls.filter((c) => c.resource.resource === 'changetrails').map((c) => [c.operation, c.kind.group, c.kind.version, c.kind.kind, c.name]);
    assert.deepEqual(seen, [
      ['UPDATE', 'tracegate.io', 'v1alpha1', 'ChangeTrail', 'deployment.api'],
      ['DELETE', 'tracegate.io', 'v1alpha1', 'ChangeTrail', 'deployment.extra2'],
    ]);
  });

  it('refuses objects over the request limit (413) and over etcd\'s value limit (500 etcdserver: request is too large)', async () => {
    const path = `/apis/tracegate.io/v1alpha1/namespaces/${ns}/changetrails`;
    const big = (mib: number): Any => trail('deployment.big', ns, { owner: 'x'.repeat(mib * 1024 * 1024) });
    const overEtcd = await api('POST', path, big(2));
    assert.deepEqual([overEtcd.status, overEtcd.json['message']], [500, 'etcdserver: request is too large']);
    const overRequest = await api('POST', path, big(4));
    assert.deepEqual([overRequest.status, overRequest.json['reason'], overRequest.json['message']], [413, 'RequestEntityTooLarge', 'Request entity too large: limit is 3145728']);
    assert.equal(server.store.get('changetrails', ns, 'deployment.big'), undefined);
  });
});

describe('CRD validation and naming', () => {
  const crd = (name: string, spec: Any): Any => ({ apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', metadata: { name }, spec });
  const version = (name: string, storage = true): Any => ({ name, served: true, storage, schema: { openAPIV3Schema: { type: 'object' } } });

  it('refuses a CRD whose name, group, scope, versions or schema are wrong', async () => {
    const good = { group: 'example.org', scope: 'Namespaced', names: { plural: 'things', kind: 'Thing' }, versions: [version('v1')] };
    const cases: [Any, RegExp][] = [
      [crd('thing.example.org', good), /metadata.name: Invalid value: "thing.example.org": must be spec.names.plural\+"."\+spec.group/],
      [crd('things.example', { ...good, group: 'example' }), /spec.group: Invalid value: "example": should be a domain with at least one dot/],
      [crd('things.example.org', { ...good, scope: 'Global' }), /spec.scope: Unsupported value: "Global": supported values: "Cluster", "Namespaced"/],
      [crd('things.example.org', { ...good, versions: [version('v1'), version('v2')] }), /spec.versions: Invalid value: .*: must have exactly one version marked as storage version/],
      [crd('things.example.org', { ...good, versions: [{ name: 'v1', served: true, storage: true }] }), /spec.versions\[0\].schema.openAPIV3Schema: Required value: schemas are required/],
      [crd('things.example.org', { ...good, versions: [{ ...version('v1'), schema: { openAPIV3Schema: { type: 'object', properties: { spec: { properties: {} } } } } }] }), /spec.versions\[0\].schema.openAPIV3Schema.properties\[spec\].type: Required value: must not be empty for specified object fields/],
      [crd('things.k8s.io', { ...good, group: 'k8s.io' }), /metadata.annotations\[api-approved.kubernetes.io\]: Required value: protected groups must have approval annotation/],
    ];
    for (const [obj, message] of cases) {
      const stderr = await kubectlFails('create', '-f', await writeJson('bad-crd', obj));
      assert.match(stderr, /The CustomResourceDefinition ".*" is invalid/);
      assert.match(stderr, message);
    }
  });

  it('a CRD whose kind and listKind another CRD of the group already uses is not established; deleting that one frees it', async () => {
    const spec = (plural: string): Any => ({ group: 'names.example.org', scope: 'Cluster', names: { plural, kind: 'Gizmo' }, versions: [version('v1')] });
    await kubectl('create', '-f', await writeJson('gizmo-a', crd('gizmos.names.example.org', spec('gizmos'))));
    await established('gizmos.names.example.org');
    await kubectl('create', '-f', await writeJson('gizmo-b', crd('gadgets.names.example.org', spec('gadgets'))));
    await waitFor('the naming controller', () => condition(server.store.get('customresourcedefinitions', '', 'gadgets.names.example.org') ?? {}, 'NamesAccepted') !== undefined);
    const second = stored('customresourcedefinitions', '', 'gadgets.names.example.org');
    assert.deepEqual(
      [condition(second, 'NamesAccepted')?.['reason'], condition(second, 'NamesAccepted')?.['message'], condition(second, 'Established')?.['status']],
      // Each conflicting name overwrites the condition, so the last checked (listKind) is reported.
      ['ListKindConflict', '"GizmoList" is already in use', 'False'],
    );
    assert.match(await kubectlFails('get', 'gadgets'), /the server doesn't have a resource type "gadgets"/);
    await kubectl('delete', 'crd', 'gizmos.names.example.org');
    await established('gadgets.names.example.org');
    await kubectl('get', 'gadgets');
  });
});

const WIDGET_SCHEMA = {
  type: 'object',
  properties: {
    spec: {
      type: 'object',
      required: ['color'],
      properties: {
        replicas: { type: 'integer', minimum: 0, default: 1 },
        mode: { type: 'string', enum: ['auto', 'manual'], default: 'auto' },
        color: { type: 'string', pattern: '^[a-z]+$', maxLength: 10 },
        port: { 'x-kubernetes-int-or-string': true },
        labels: { type: 'object', additionalProperties: { type: 'string' } },
        extra: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true, properties: { known: { type: 'object', properties: { a: { type: 'string' } } } } },
        note: { type: 'string', nullable: true },
        tags: { type: 'array', items: { type: 'string' } },
      },
    },
    status: {
      type: 'object',
      properties: {
        replicas: { type: 'integer' },
        selector: { type: 'string' },
        conditions: { type: 'array', items: { type: 'object', properties: { type: { type: 'string' }, status: { type: 'string' } } } },
      },
    },
  },
};

const WIDGET_CRD = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'widgets.example.com' },
  spec: {
    group: 'example.com',
    scope: 'Namespaced',
    names: { plural: 'widgets', kind: 'Widget', shortNames: ['wd'] },
    versions: [
      { name: 'v1beta1', served: true, storage: false, schema: { openAPIV3Schema: WIDGET_SCHEMA } },
      {
        name: 'v1',
        served: true,
        storage: true,
        schema: { openAPIV3Schema: WIDGET_SCHEMA },
        subresources: { status: {}, scale: { specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.replicas', labelSelectorPath: '.status.selector' } },
        additionalPrinterColumns: [
          { name: 'Replicas', type: 'integer', jsonPath: '.spec.replicas' },
          { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
          { name: 'Color', type: 'string', jsonPath: '.spec.color', priority: 1 },
        ],
        selectableFields: [{ jsonPath: '.spec.color' }],
      },
    ],
  },
};

describe('a test CRD: pruning, defaulting, status and scale subresources, versions', () => {
  const ns = 'widgets';
  const path = `/apis/example.com/v1/namespaces/${ns}/widgets`;
  before(async () => {
    createNamespace(ns);
    await kubectl('apply', '-f', await writeJson('widget-crd', WIDGET_CRD));
    await established('widgets.example.com');
  });

  it('prunes unknown fields, drops status on create, defaults missing and non-nullable null fields, keeps nullable nulls', async () => {
    const res = await api('POST', path, {
      apiVersion: 'example.com/v1',
      kind: 'Widget',
      metadata: { name: 'w1', labels: { app: 'w' } },
      spec: { color: 'blue', mode: null, note: null, bogus: true, extra: { anything: [1], known: { a: 'x', b: 'pruned' } }, labels: { k: 'v' } },
      status: { replicas: 9 },
    });
    assert.equal(res.status, 201, JSON.stringify(res.json));
    assert.equal(res.headers.get('warning'), '299 - "unknown field \\"spec.bogus\\"", 299 - "unknown field \\"spec.extra.known.b\\""');
    const w = stored('widgets', ns, 'w1');
    assert.deepEqual(w['spec'], { color: 'blue', mode: 'auto', note: null, replicas: 1, extra: { anything: [1], known: { a: 'x' } }, labels: { k: 'v' } });
    assert.equal(w['status'], undefined, 'status is only written through /status');
    assert.equal(w['metadata']['generation'], 1);
  });

  it('validates pattern, maxLength, int-or-string, additionalProperties and nullable', async () => {
    const res = await api('POST', path, { apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'bad' }, spec: { color: 'Blue', port: true, labels: { k: 1 }, tags: [null] } });
    assert.equal(res.status, 422);
    const causes = res.json['details']['causes'].map((c: Any) => `${c['field']}: ${c['message']}`);
    assert.ok(causes.includes(`spec.color: Invalid value: "Blue": spec.color in body should match '^[a-z]+$'`), causes.join('\n'));
    assert.ok(causes.includes('spec.port: Invalid value: "boolean": spec.port in body must be of type integer,string: "boolean"'), causes.join('\n'));
    assert.ok(causes.includes('spec.labels.k: Invalid value: "integer": spec.labels.k in body must be of type string: "integer"'), causes.join('\n'));
    assert.ok(causes.includes('spec.tags[0]: Invalid value: "null": spec.tags[0] in body must be of type string: "null"'), causes.join('\n'));
    const long = await api('POST', path, { apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'bad' }, spec: { color: 'abcdefghijk' } });
    assert.equal(long.json['message'], 'Widget.example.com "bad" is invalid: spec.color: Too long: may not be more than 10 bytes');
  });

  it('the main resource ignores status; /status ignores everything else; generation moves with spec only', async () => {
    const w = stored('widgets', ns, 'w1');
    const viaMain = await api('PUT', `${path}/w1`, { ...w, status: { replicas: 5 }, metadata: { ...w['metadata'], labels: { app: 'w', tier: 'x' } } });
    assert.equal(viaMain.status, 200);
    assert.equal(viaMain.json['status'], undefined);
    assert.equal(viaMain.json['metadata']['generation'], 1, 'a metadata-only change keeps the generation');
    const current = stored('widgets', ns, 'w1');
    const viaStatus = await api('PUT', `${path}/w1/status`, {
      ...current,
      metadata: { ...current['metadata'], labels: { changed: 'no' } },
      spec: { ...current['spec'], color: 'red' },
      status: { replicas: 2, selector: 'app=w', conditions: [{ type: 'Ready', status: 'True' }] },
    });
    assert.equal(viaStatus.status, 200, JSON.stringify(viaStatus.json));
    const after1 = stored('widgets', ns, 'w1');
    assert.deepEqual([after1['spec']['color'], after1['metadata']['labels'], after1['status']['replicas'], after1['metadata']['generation']], ['blue', { app: 'w', tier: 'x' }, 2, 1]);
    assert.ok(after1['metadata']['managedFields'].some((f: Any) => f['subresource'] === 'status'));
    await kubectl('patch', 'widget', 'w1', '-n', ns, '--type=merge', '-p', '{"spec":{"color":"green"}}');
    assert.equal(stored('widgets', ns, 'w1')['metadata']['generation'], 2);
  });

  it('kubectl get prints the printer columns (and wide ones with -o wide); selectable fields select', async () => {
    const table = rows((await kubectl('get', 'wd', '-n', ns)).stdout);
    assert.deepEqual(table, [
      ['NAME', 'REPLICAS', 'READY'],
      ['w1', '1', 'True'],
    ]);
    assert.deepEqual(rows((await kubectl('get', 'wd', '-n', ns, '-o', 'wide')).stdout)[0], ['NAME', 'REPLICAS', 'READY', 'COLOR']);
    assert.deepEqual(rows((await kubectl('get', 'wd', '-n', ns, '--field-selector', 'spec.color=green', '--no-headers')).stdout).map((r) => r[0]), ['w1']);
    assert.equal((await kubectl('get', 'wd', '-n', ns, '--field-selector', 'spec.color=blue')).stderr.trim(), `No resources found in ${ns} namespace.`);
  });

  it('kubectl scale writes spec.replicas through /scale, whose Scale carries the status selector', async () => {
    await kubectl('scale', 'widget/w1', '-n', ns, '--replicas=3');
    assert.equal(stored('widgets', ns, 'w1')['spec']['replicas'], 3);
    const scale = (await api('GET', `${path}/w1/scale`)).json;
    assert.deepEqual([scale['kind'], scale['spec'], scale['status']], ['Scale', { replicas: 3 }, { replicas: 2, selector: 'app=w' }]);
  });

  it('every served version serves the same objects; discovery prefers v1', async () => {
    const beta = (await api('GET', `/apis/example.com/v1beta1/namespaces/${ns}/widgets/w1`)).json;
    assert.deepEqual([beta['apiVersion'], beta['spec']['color']], ['example.com/v1beta1', 'green']);
    const group = (await api('GET', '/apis/example.com')).json;
    assert.deepEqual(group['versions'].map((v: Any) => v['version']), ['v1', 'v1beta1']);
    assert.equal(group['preferredVersion']['version'], 'v1');
    const betaResources = (await api('GET', '/apis/example.com/v1beta1')).json['resources'].map((r: Any) => r['name']);
    assert.deepEqual(betaResources, ['widgets'], 'v1beta1 declares no subresources');
  });

  it("client-node's informer on the custom resource path sees ADDED, MODIFIED and DELETED", async () => {
    const kc = new KubeConfig();
    kc.loadFromFile(await server.kubeconfig(await mkdtemp(join(dir, 'informer-'))));
    const custom = kc.makeApiClient(CustomObjectsApi);
    const list = async (): Promise<KubernetesListObject<KubernetesObject>> => (await custom.listNamespacedCustomObject({ group: 'example.com', version: 'v1', namespace: ns, plural: 'widgets' })) as KubernetesListObject<KubernetesObject>;
    const informer = makeInformer(kc, path, list);
    const seen: string[] = [];
    informer.on('add', (o) => seen.push(`add ${o.metadata?.name}`));
    informer.on('update', (o) => seen.push(`update ${o.metadata?.name} ${(o as Any)['spec']['color']}`));
    informer.on('delete', (o) => seen.push(`delete ${o.metadata?.name}`));
    await informer.start();
    try {
      assert.ok(seen.includes('add w1'));
      await custom.createNamespacedCustomObject({ group: 'example.com', version: 'v1', namespace: ns, plural: 'widgets', body: { apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w2' }, spec: { color: 'red' } } });
      await waitFor('ADDED w2', () => seen.includes('add w2'));
      await kubectl('patch', 'widget', 'w2', '-n', ns, '--type=merge', '-p', '{"spec":{"color":"pink"}}');
      await waitFor('MODIFIED w2', () => seen.includes('update w2 pink'));
      await kubectl('delete', 'widget', 'w2', '-n', ns);
      await waitFor('DELETED w2', () => seen.includes('delete w2'));
    } finally {
      await informer.stop();
    }
  });

  it('deleting the CRD deletes its objects and ends their watches', async () => {
    const watch = openWatch(`${path}?watch=true&resourceVersion=${server.store.resourceVersion()}`);
    await kubectl('delete', 'crd', 'widgets.example.com');
    await watch.ended;
    assert.deepEqual(watch.events.map((e) => [e['type'], e['object']['metadata']['name']]), [['DELETED', 'w1']]);
    assert.equal(server.store.get('customresourcedefinitions', '', 'widgets.example.com'), undefined);
    assert.equal((await api('GET', path)).status, 404);
    assert.match(await kubectlFails('get', 'widgets', '-n', ns), /the server doesn't have a resource type "widgets"/);
  });
});

describe('a cluster-scoped CRD', () => {
  it('kubectl apply of the CRD, then at once of an object: served cluster-scoped; metadata.namespace is no field selector', async () => {
    await kubectl(
      'apply',
      '-f',
      await writeJson('policy-crd', {
        apiVersion: 'apiextensions.k8s.io/v1',
        kind: 'CustomResourceDefinition',
        metadata: { name: 'tracegatepolicies.policy.example.io' },
        spec: {
          group: 'policy.example.io',
          scope: 'Cluster',
          names: { plural: 'tracegatepolicies', kind: 'TracegatePolicy' },
          versions: [{ name: 'v1alpha1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', properties: { spec: { type: 'object', required: ['mode'], properties: { mode: { type: 'string', enum: ['enforce', 'audit'] } } } } } } }],
        },
      }),
    );
    // No wait: the CRD is established before the next kubectl has read discovery.
    const policy = { apiVersion: 'policy.example.io/v1alpha1', kind: 'TracegatePolicy', metadata: { name: 'default' }, spec: { mode: 'enforce' } };
    await kubectl('apply', '-f', await writeJson('policy', policy));
    assert.equal(stored('tracegatepolicies', '', 'default')['metadata']['namespace'], undefined);
    assert.match(await kubectlFails('apply', '-f', await writeJson('policy-bad', { ...policy, spec: { mode: 'off' } })), /spec.mode: Unsupported value: "off": supported values: "enforce", "audit"/);
    const fieldSelected = await api('GET', '/apis/policy.example.io/v1alpha1/tracegatepolicies?fieldSelector=metadata.namespace%3Ddefault');
    assert.deepEqual([fieldSelected.status, fieldSelected.json['message']], [400, 'field label not supported: metadata.namespace']);
  });
});

describe('helm charts with CRDs in crds/', () => {
  /** A chart whose crds/ holds a CRD of `group` and whose template creates one object of it. */
  async function writeCrdChart(name: string, group: string): Promise<string> {
    const chart = join(dir, `chart-${name}`);
    await mkdir(join(chart, 'crds'), { recursive: true });
    await mkdir(join(chart, 'templates'), { recursive: true });
    await writeFile(join(chart, 'Chart.yaml'), `apiVersion: v2\nname: ${name}\nversion: 0.1.0\n`);
    await writeFile(join(chart, 'values.yaml'), 'size: 2\n');
    const crd = {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: `gadgets.${group}` },
      spec: {
        group,
        scope: 'Namespaced',
        names: { plural: 'gadgets', kind: 'Gadget' },
        versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', properties: { spec: { type: 'object', properties: { size: { type: 'integer', minimum: 1 }, tier: { type: 'string', default: 'basic' } } } } } } }],
      },
    };
    await writeFile(join(chart, 'crds', 'gadget.yaml'), JSON.stringify(crd));
    await writeFile(join(chart, 'templates', 'gadget.yaml'), `apiVersion: ${group}/v1\nkind: Gadget\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n  size: {{ .Values.size }}\n`);
    return chart;
  }

  it('helm 4 installs the CRD first, waits for it, then the custom resource (defaults applied); uninstall keeps the CRD', async () => {
    createNamespace('helm4');
    const chart = await writeCrdChart('gadgets4', 'helm4.example.com');
    const res = await run(tools.helm, 'install', 'g4', chart, '-n', 'helm4');
    assert.equal(res.code, 0, res.stderr);
    assert.ok(condition(stored('customresourcedefinitions', '', 'gadgets.helm4.example.com'), 'Established'));
    assert.deepEqual(stored('gadgets.helm4.example.com', 'helm4', 'g4')['spec'], { size: 2, tier: 'basic' });
    const invalid = await run(tools.helm, 'upgrade', 'g4', chart, '-n', 'helm4', '--set', 'size=0');
    assert.notEqual(invalid.code, 0);
    assert.match(invalid.stderr, /spec.size: Invalid value: 0: spec.size in body should be greater than or equal to 1/);
    assert.equal((await run(tools.helm, 'uninstall', 'g4', '-n', 'helm4')).code, 0);
    assert.equal(server.store.get('gadgets.helm4.example.com', 'helm4', 'g4'), undefined);
    stored('customresourcedefinitions', '', 'gadgets.helm4.example.com');
  });

  it('helm 3 installs the CRD from crds/ and the custom resource, and upgrades it with a merge patch', async () => {
    createNamespace('helm3');
    const chart = await writeCrdChart('gadgets3', 'helm3.example.com');
    const res = await run(tools.helm3, 'install', 'g3', chart, '-n', 'helm3');
    assert.equal(res.code, 0, res.stderr);
    assert.equal(stored('gadgets.helm3.example.com', 'helm3', 'g3')['spec']['size'], 2);
    const up = await run(tools.helm3, 'upgrade', 'g3', chart, '-n', 'helm3', '--set', 'size=5');
    assert.equal(up.code, 0, up.stderr);
    assert.equal(stored('gadgets.helm3.example.com', 'helm3', 'g3')['spec']['size'], 5);
    const patch = server.requests.filter((r) => r.method === 'PATCH' && r.path === '/apis/helm3.example.com/v1/namespaces/helm3/gadgets/g3').pop();
    assert.equal(patch?.contentType, 'application/merge-patch+json');
  });
});
