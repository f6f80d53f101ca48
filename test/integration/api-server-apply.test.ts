/**
 * Server-side apply, managedFields and strategic merge patch of the test API server, checked with the
 * real kubectl (`apply --server-side [--force-conflicts]`, `patch --type strategic|merge|json`,
 * `set image`, `replace`) and direct requests against the rules of the Kubernetes "Server-Side
 * Apply" documentation, structured-merge-diff's merge/prune/conflict code and
 * k8s.io/apimachinery's strategicpatch — the cases a rollback relies on (issue 13).
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decodeFieldsV1, formatPath, parsePath } from '../support/api-server/field-set.js';
import { startTestApiServer } from '../support/api-server/index.js';
import type { TestApiServer } from '../support/api-server/index.js';
import { ensureRealTools, runTool } from '../support/tools.js';
import type { RealTools, ToolResult } from '../support/tools.js';

/** Parsed JSON as the tests read it. */
type Any = Record<string, any>;

let server: TestApiServer;
let tools: RealTools;
let dir: string;
let kubeconfig: string;
const ns = 'ssa';

before(async () => {
  tools = await ensureRealTools();
  // No controllers: their status and revision writes would add managers of their own.
  server = await startTestApiServer({ controller: false });
  dir = await mkdtemp(join(tmpdir(), 'tracegate-apply-test-'));
  kubeconfig = await server.kubeconfig(dir);
  server.store.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
});

after(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

async function run(bin: string, args: string[], stdin?: string): Promise<ToolResult> {
  return runTool(bin, args, { env: { KUBECONFIG: kubeconfig }, ...(stdin === undefined ? {} : { input: stdin }) });
}

async function kubectl(...args: string[]): Promise<ToolResult> {
  const res = await run(tools.kubectl, args);
  assert.equal(res.code, 0, `kubectl ${args.join(' ')} failed:\n${res.stdout}${res.stderr}`);
  return res;
}

/** `kubectl apply --server-side` of one object, with extra flags (`--field-manager`, `--force-conflicts`). */
async function applyObj(obj: unknown, ...flags: string[]): Promise<ToolResult> {
  const file = join(dir, `apply-${Math.random().toString(36).slice(2)}.json`);
  await writeFile(file, JSON.stringify(obj));
  return run(tools.kubectl, ['apply', '--server-side', '-f', file, ...flags]);
}

async function applyOk(obj: unknown, ...flags: string[]): Promise<void> {
  const res = await applyObj(obj, ...flags);
  assert.equal(res.code, 0, `apply failed:\n${res.stdout}${res.stderr}`);
}

function deployment(name: string): Any {
  const obj = server.store.get('deployments', ns, name);
  assert.ok(obj, `deployment ${name} is stored`);
  return obj as Any;
}

function containers(name: string): Any[] {
  return deployment(name)['spec']['template']['spec']['containers'] as Any[];
}

/** The fields a manager owns, as the apiserver prints paths, e.g. `.spec.replicas`. */
function owned(name: string, manager: string, operation = 'Update'): string[] {
  const entry = (deployment(name)['metadata']['managedFields'] as Any[] | undefined)?.find((e) => e['manager'] === manager && e['operation'] === operation);
  if (entry === undefined) return [];
  return [...decodeFieldsV1(entry['fieldsV1'])].map((p) => formatPath(parsePath(p)));
}

function managerNames(name: string): string[] {
  return ((deployment(name)['metadata']['managedFields'] as Any[] | undefined) ?? []).map((e) => `${e['manager']}/${e['operation']}`);
}

async function api(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<{ status: number; json: Any }> {
  const res = await fetch(new URL(path, server.url), {
    method,
    headers: { Authorization: `Bearer ${server.token()}`, 'Content-Type': contentType },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  return { status: res.status, json: (await res.json()) as Any };
}

const deployPath = (name: string): string => `/apis/apps/v1/namespaces/${ns}/deployments/${name}`;

/** A Deployment manifest: containers as `[name, image, extra fields]`. */
function manifest(name: string, cs: [string, string, Any?][], spec: Any = {}, podSpec: Any = {}, labels: Record<string, string> = {}): Any {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: ns, ...(Object.keys(labels).length > 0 ? { labels } : {}) },
    spec: {
      selector: { matchLabels: { app: name } },
      ...spec,
      template: { metadata: { labels: { app: name } }, spec: { ...podSpec, containers: cs.map(([n, image, extra]) => ({ name: n, image, ...(extra ?? {}) })) } },
    },
  };
}

describe('associative lists (listType=map): ownership per item and per field', () => {
  it('an item another manager added survives the applier re-applying without it; the applier owns only its items', async () => {
    await applyOk(manifest('keyed', [['web', 'nginx:1.25', { env: [{ name: 'A', value: '1' }], ports: [{ containerPort: 80 }, { containerPort: 53, protocol: 'UDP' }] }]]));
    assert.ok(owned('keyed', 'kubectl', 'Apply').includes('.spec.template.spec.containers[name="web"].ports[containerPort=80,protocol="TCP"].containerPort'), 'ports are keyed by containerPort and protocol, TCP by default');
    assert.ok(owned('keyed', 'kubectl', 'Apply').includes('.spec.template.spec.containers[name="web"].ports[containerPort=53,protocol="UDP"]'));
    await kubectl('patch', 'deployment/keyed', '-n', ns, '-p', JSON.stringify({ spec: { template: { spec: { containers: [{ name: 'sidecar', image: 'envoy:1' }] } } } }));
    assert.ok(owned('keyed', 'kubectl-patch').includes('.spec.template.spec.containers[name="sidecar"]'), 'the patcher owns the item it added');
    assert.deepEqual(containers('keyed').map((c) => c['name']), ['sidecar', 'web'], 'a strategic merge puts an item the server did not have first (mergeSortedSlice)');
    await applyOk(manifest('keyed', [['web', 'nginx:1.25', { env: [{ name: 'A', value: '1' }], ports: [{ containerPort: 80 }, { containerPort: 53, protocol: 'UDP' }] }]]));
    assert.deepEqual(containers('keyed').map((c) => c['name']), ['sidecar', 'web'], 'apply is not "become this": the sidecar stays');
  });

  it('an item only the applier owned is removed when it stops applying it; so is an env var', async () => {
    await applyOk(manifest('keyed', [['web', 'nginx:1.25', { env: [{ name: 'A', value: '1' }, { name: 'B', value: '2' }] }], ['extra', 'busybox:1']]));
    assert.deepEqual(containers('keyed').map((c) => c['name']), ['sidecar', 'web', 'extra']);
    await applyOk(manifest('keyed', [['web', 'nginx:1.25', { env: [{ name: 'A', value: '1' }] }]]));
    assert.deepEqual(containers('keyed').map((c) => c['name']), ['sidecar', 'web']);
    assert.deepEqual(containers('keyed')[1]?.['env'], [{ name: 'A', value: '1' }]);
    assert.equal(containers('keyed')[1]?.['ports'], undefined, 'the ports it no longer applies went too');
  });

  it('a pruned item goes whole, even when another manager owns a field inside it (Updater.prune removes list items)', async () => {
    await applyOk(manifest('whole', [['web', 'nginx:1.25'], ['helper', 'busybox:1']]));
    await kubectl('set', 'image', 'deployment/whole', 'helper=busybox:2', '-n', ns);
    assert.deepEqual(owned('whole', 'kubectl-set'), ['.spec.template.spec.containers[name="helper"].image']);
    assert.ok(!owned('whole', 'kubectl', 'Apply').includes('.spec.template.spec.containers[name="helper"].image'), 'the update took the image from the applier');
    await applyOk(manifest('whole', [['web', 'nginx:1.25']]));
    assert.deepEqual(containers('whole').map((c) => c['name']), ['web']);
    assert.deepEqual(owned('whole', 'kubectl-set'), [], 'the updater lost the field with the item (its entry is gone)');
    assert.ok(!managerNames('whole').includes('kubectl-set/Update'));
  });

  it('live-only items keep their place among the applied ones (visitListItems order)', async () => {
    await applyOk(manifest('order', [['a', 'x:1'], ['b', 'x:1']]));
    await kubectl('patch', 'deployment/order', '-n', ns, '--type=json', '-p', JSON.stringify([{ op: 'add', path: '/spec/template/spec/containers/1', value: { name: 'mid', image: 'x:1' } }]));
    assert.deepEqual(containers('order').map((c) => c['name']), ['a', 'mid', 'b']);
    await applyOk(manifest('order', [['b', 'x:2'], ['a', 'x:2']]));
    assert.deepEqual(containers('order').map((c) => c['name']), ['mid', 'b', 'a']);
  });
});

describe('atomic lists and maps: owned and replaced as a whole', () => {
  it('command is one field: a different command by another applier conflicts on the whole list; the same one is shared', async () => {
    await applyOk(manifest('atomic', [['web', 'nginx:1.25', { command: ['nginx', '-g', 'daemon off;'] }]]));
    assert.ok(owned('atomic', 'kubectl', 'Apply').includes('.spec.template.spec.containers[name="web"].command'));
    await applyOk(manifest('atomic', [['web', 'nginx:1.25', { command: ['nginx', '-g', 'daemon off;'] }]]), '--field-manager=second');
    assert.ok(owned('atomic', 'second', 'Apply').includes('.spec.template.spec.containers[name="web"].command'), 'same value: both own it');
    assert.ok(owned('atomic', 'kubectl', 'Apply').includes('.spec.template.spec.containers[name="web"].command'));
    const res = await applyObj(manifest('atomic', [['web', 'nginx:1.25', { command: ['nginx'] }]]), '--field-manager=second');
    assert.equal(res.code, 1);
    assert.match(res.stderr, /Apply failed with 1 conflict: conflict with "kubectl": \.spec\.template\.spec\.containers\[name="web"\]\.command\n/, 'an applier is printed without "using"');
  });

  it('a LabelSelector and nodeSelector are atomic: FieldsV1 holds the field itself, and an apply replaces the whole map', async () => {
    await applyOk(manifest('selectors', [['web', 'nginx:1.25']], {}, { nodeSelector: { disk: 'ssd' } }));
    const mine = owned('selectors', 'kubectl', 'Apply');
    assert.ok(mine.includes('.spec.selector') && !mine.some((p) => p.startsWith('.spec.selector.')));
    assert.ok(mine.includes('.spec.template.spec.nodeSelector') && !mine.some((p) => p.startsWith('.spec.template.spec.nodeSelector.')));
    await kubectl('patch', 'deployment/selectors', '-n', ns, '--type=merge', '-p', JSON.stringify({ spec: { template: { spec: { nodeSelector: { zone: 'a' } } } } }));
    assert.deepEqual(deployment('selectors')['spec']['template']['spec']['nodeSelector'], { disk: 'ssd', zone: 'a' });
    assert.deepEqual(owned('selectors', 'kubectl-patch'), ['.spec.template.spec.nodeSelector'], 'changing one key takes the whole map');
    const res = await applyObj(manifest('selectors', [['web', 'nginx:1.25']], {}, { nodeSelector: { disk: 'ssd' } }));
    assert.equal(res.code, 1);
    assert.match(res.stderr, /conflict with "kubectl-patch" using apps\/v1: \.spec\.template\.spec\.nodeSelector/);
    await applyOk(manifest('selectors', [['web', 'nginx:1.25']], {}, { nodeSelector: { disk: 'ssd' } }), '--force-conflicts');
    assert.deepEqual(deployment('selectors')['spec']['template']['spec']['nodeSelector'], { disk: 'ssd' }, 'replaced whole, not merged');
  });
});

describe('atomic values are compared as values', () => {
  it('the same atomic map in another key order is no change: no conflict with its owner (value.Equals, maps unordered)', async () => {
    // Stored as a YAML file orders it; kubectl (Go) sends map keys sorted.
    server.store.put(manifest('order', [['web', 'nginx:1.25']], {}, { nodeSelector: { zone: 'a', disk: 'ssd' } }));
    await applyOk(manifest('order', [['web', 'nginx:1.25']], {}, { nodeSelector: { disk: 'ssd', zone: 'a' } }));
    assert.ok(owned('order', 'kubectl', 'Apply').includes('.spec.template.spec.nodeSelector'), 'co-owned with before-first-apply');
    const res = await applyObj(manifest('order', [['web', 'nginx:1.25']], {}, { nodeSelector: { disk: 'hdd', zone: 'a' } }), '--field-manager=second');
    assert.equal(res.code, 1, 'a different value still conflicts');
    assert.match(res.stderr, /Apply failed with 2 conflicts: conflicts with "before-first-apply" using apps\/v1:\n/, 'both co-owners of the value');
  });
});

describe('fields removed from an apply configuration', () => {
  it('a field both appliers set stays when one stops applying it, owned by the other', async () => {
    await applyOk(manifest('removed', [['web', 'nginx:1.25']], {}, {}, { team: 'a', tier: 'web' }));
    await applyOk({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'removed', namespace: ns, labels: { team: 'a' } } }, '--field-manager=labeler');
    await applyOk(manifest('removed', [['web', 'nginx:1.25']]));
    assert.deepEqual(deployment('removed')['metadata']['labels'], { team: 'a' });
    assert.deepEqual(owned('removed', 'labeler', 'Apply'), ['.metadata.labels.team']);
  });

  it('a map only the applier filled goes whole (named fields are members when pruning)', async () => {
    await applyOk(manifest('limits', [['web', 'nginx:1.25', { resources: { limits: { cpu: '1' }, requests: { cpu: '1' } } }]]));
    await applyOk(manifest('limits', [['web', 'nginx:1.25', { resources: { requests: { cpu: '1' } } }]]));
    assert.deepEqual(containers('limits')[0]?.['resources'], { requests: { cpu: '1' } });
  });
});

describe('conflicts and force', () => {
  it('lists every conflict, grouped by manager in the apiserver wording; --force-conflicts takes the fields over', async () => {
    await applyOk(manifest('force', [['web', 'nginx:1.25']], { replicas: 1 }));
    await kubectl('set', 'image', 'deployment/force', 'web=nginx:1.26', '-n', ns);
    await kubectl('patch', 'deployment/force', '-n', ns, '-p', '{"spec":{"replicas":3}}');
    const res = await applyObj(manifest('force', [['web', 'nginx:1.25']], { replicas: 1 }));
    assert.equal(res.code, 1);
    assert.ok(
      res.stderr.includes(
        'Apply failed with 2 conflicts: conflicts with "kubectl-patch" using apps/v1:\n- .spec.replicas\nconflicts with "kubectl-set" using apps/v1:\n- .spec.template.spec.containers[name="web"].image\n',
      ),
      res.stderr,
    );
    const status = await api('PATCH', `${deployPath('force')}?fieldManager=kubectl`, manifest('force', [['web', 'nginx:1.25']], { replicas: 1 }), 'application/apply-patch+yaml');
    assert.equal(status.status, 409);
    assert.deepEqual(status.json['details']['causes'], [
      { reason: 'FieldManagerConflict', message: 'conflict with "kubectl-patch" using apps/v1', field: '.spec.replicas' },
      { reason: 'FieldManagerConflict', message: 'conflict with "kubectl-set" using apps/v1', field: '.spec.template.spec.containers[name="web"].image' },
    ]);
    await applyOk(manifest('force', [['web', 'nginx:1.25']], { replicas: 1 }), '--force-conflicts');
    assert.equal(containers('force')[0]?.['image'], 'nginx:1.25');
    assert.equal(deployment('force')['spec']['replicas'], 1);
    assert.deepEqual(managerNames('force').filter((m) => m.startsWith('kubectl-')), [], 'the others lost their only fields');
    assert.ok(owned('force', 'kubectl', 'Apply').includes('.spec.replicas'));
  });
});

describe('update operations: PUT and non-apply patches', () => {
  it('the writer takes the fields it changed; a PUT removes what it omits whatever its owners; a stale resourceVersion is a 409', async () => {
    await applyOk(manifest('update', [['web', 'nginx:1.25', { env: [{ name: 'A', value: '1' }] }]], {}, {}, { team: 'a' }));
    const live = deployment('update');
    const body = structuredClone(live);
    delete body['metadata']['labels'];
    body['spec']['template']['spec']['containers'][0]['image'] = 'nginx:1.27';
    const file = join(dir, 'replace.json');
    await writeFile(file, JSON.stringify(body));
    await kubectl('replace', '-f', file);
    const after = deployment('update');
    assert.equal(after['metadata']['labels'], undefined, 'the applier owned the label, the PUT removed it anyway');
    assert.deepEqual(owned('update', 'kubectl-replace'), ['.spec.template.spec.containers[name="web"].image']);
    assert.ok(!owned('update', 'kubectl', 'Apply').some((p) => p === '.metadata.labels.team' || p.endsWith('.image')), 'the applier lost the removed and the changed field');

    const stale = await api('PUT', deployPath('update'), body);
    assert.equal(stale.status, 409);
    assert.equal(stale.json['message'], 'Operation cannot be fulfilled on deployments.apps "update": the object has been modified; please apply your changes to the latest version and try again');
    delete body['metadata']['resourceVersion'];
    body['spec']['replicas'] = 2;
    assert.equal((await api('PUT', deployPath('update'), body)).status, 200, 'apps/v1 Deployments allow unconditional updates (AllowUnconditionalUpdate)');
  });
});

describe('managedFields written by clients', () => {
  it('[{}] resets them; the object then stays untracked until an apply, which first hands everything to before-first-apply', async () => {
    await applyOk(manifest('reset', [['web', 'nginx:1.25']]));
    await kubectl('patch', 'deployment/reset', '-n', ns, '--type=merge', '-p', '{"metadata":{"managedFields":[{}]}}');
    assert.equal(deployment('reset')['metadata']['managedFields'], undefined);
    await kubectl('label', 'deployment/reset', '-n', ns, 'x=y');
    assert.equal(deployment('reset')['metadata']['managedFields'], undefined, 'skipNonAppliedManager: updates of an unmanaged object are not tracked');
    const res = await applyObj(manifest('reset', [['web', 'nginx:1.26']]));
    assert.equal(res.code, 1);
    assert.match(res.stderr, /conflict with "before-first-apply" using apps\/v1: \.spec\.template\.spec\.containers\[name="web"\]\.image/);
    await applyOk(manifest('reset', [['web', 'nginx:1.26']]), '--force-conflicts');
    assert.deepEqual(managerNames('reset'), ['kubectl/Apply', 'before-first-apply/Update']);
    assert.ok(owned('reset', 'before-first-apply').includes('.metadata.labels.x'));
  });

  it('a JSON patch replacing /metadata/managedFields (helm 4 before its first apply) stores them as sent; undecodable ones are ignored; long names are invalid', async () => {
    await kubectl('create', 'deployment', 'handover', '--image=nginx:1.25', '-n', ns);
    const entry = (deployment('handover')['metadata']['managedFields'] as Any[])[0] as Any;
    const handed = [{ ...entry, manager: 'helm', operation: 'Apply' }];
    const rv = deployment('handover')['metadata']['resourceVersion'];
    const patched = await api('PATCH', deployPath('handover'), [{ op: 'test', path: '/metadata/resourceVersion', value: rv }, { op: 'replace', path: '/metadata/managedFields', value: handed }], 'application/json-patch+json');
    assert.equal(patched.status, 200, JSON.stringify(patched.json));
    assert.deepEqual(managerNames('handover'), ['helm/Apply']);
    assert.deepEqual(deployment('handover')['metadata']['managedFields'][0]['fieldsV1'], entry['fieldsV1']);

    const bogus = await api('PATCH', deployPath('handover'), { metadata: { managedFields: [{ manager: 'x', operation: 'Bogus', apiVersion: 'apps/v1', fieldsType: 'FieldsV1', fieldsV1: {} }] } }, 'application/merge-patch+json');
    assert.equal(bogus.status, 200);
    assert.deepEqual(managerNames('handover'), ['helm/Apply'], 'entries that do not decode leave the stored ones');

    const long = await api('PATCH', deployPath('handover'), { metadata: { managedFields: [{ ...entry, manager: 'm'.repeat(129) }] } }, 'application/merge-patch+json');
    assert.equal(long.status, 422);
    assert.equal(long.json['message'], 'Deployment.apps "handover" is invalid: metadata.managedFields[0].manager: Too long: may not be more than 128 bytes');

    const inApply = await api('PATCH', `${deployPath('handover')}?fieldManager=helm`, { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'handover', managedFields: handed } }, 'application/apply-patch+yaml');
    assert.deepEqual([inApply.status, inApply.json['message']], [400, 'metadata.managedFields must be nil']);
    const forceOnMerge = await api('PATCH', `${deployPath('handover')}?force=true`, { metadata: { labels: { a: 'b' } } }, 'application/merge-patch+json');
    assert.deepEqual([forceOnMerge.status, forceOnMerge.json['message']], [422, 'PatchOptions.meta.k8s.io "" is invalid: force: Forbidden: may not be specified for non-apply patch']);
  });
});

describe('strategic merge patch', () => {
  const podSpec = (names: string[]): Any => ({ containers: names.map((n) => ({ name: n, image: 'x:1' })) });
  before(async () => {
    await kubectl('create', 'deployment', 'smp', '--image=x:1', '-n', ns);
    await api('PATCH', deployPath('smp'), { spec: { template: { spec: { containers: [{ $patch: 'replace' }, ...podSpec(['a', 'b', 'c'])['containers']] } } } }, 'application/strategic-merge-patch+json');
  });

  it('a keyed list merge orders the patched items as the patch does, interleaving the server-only ones (normalizeElementOrder)', async () => {
    await kubectl('patch', 'deployment/smp', '-n', ns, '-p', JSON.stringify({ spec: { template: { spec: { containers: [{ name: 'c', image: 'x:2' }, { name: 'a', image: 'x:2' }] } } } }));
    assert.deepEqual(containers('smp').map((c) => `${c['name']}=${c['image']}`), ['b=x:1', 'c=x:2', 'a=x:2']);
    const ordered = { spec: { template: { spec: { '$setElementOrder/containers': [{ name: 'a' }, { name: 'b' }, { name: 'c' }], containers: [{ name: 'b', image: 'x:3' }] } } } };
    await kubectl('patch', 'deployment/smp', '-n', ns, '-p', JSON.stringify(ordered));
    assert.deepEqual(containers('smp').map((c) => `${c['name']}=${c['image']}`), ['a=x:2', 'b=x:3', 'c=x:2']);
  });

  it('$patch: replace and delete on maps, null deletes, finalizers merge as a set', async () => {
    await kubectl('patch', 'deployment/smp', '-n', ns, '-p', JSON.stringify({ metadata: { finalizers: ['x.io/a'] }, spec: { template: { metadata: { labels: { $patch: 'replace', app: 'smp', v: '2' } } } } }));
    await kubectl('patch', 'deployment/smp', '-n', ns, '-p', JSON.stringify({ metadata: { finalizers: ['x.io/b', 'x.io/a'] }, spec: { template: { spec: { nodeSelector: { $patch: 'delete' }, dnsPolicy: null } } } }));
    const d = deployment('smp');
    assert.deepEqual(d['spec']['template']['metadata']['labels'], { app: 'smp', v: '2' });
    assert.deepEqual(d['metadata']['finalizers'], ['x.io/b', 'x.io/a'], 'a set union, in the patch order (normalizeElementOrder)');
    assert.deepEqual(d['spec']['template']['spec']['nodeSelector'], {}, '$patch: delete on a map leaves an empty map (handleDirectiveInMergeMap)');
    assert.equal(d['spec']['template']['spec']['dnsPolicy'], 'ClusterFirst', 'null deleted it, defaulting put it back');
  });

  it('malformed directives fail as the apiserver answers them', async () => {
    const mergeMap = await api('PATCH', deployPath('smp'), { spec: { template: { metadata: { labels: { $patch: 'merge' } } } } }, 'application/strategic-merge-patch+json');
    assert.deepEqual([mergeMap.status, mergeMap.json['reason'], mergeMap.json['message']], [500, '', 'unknown patch type: merge in map: map[$patch:merge]']);
    const mergeList = await api('PATCH', deployPath('smp'), { spec: { template: { spec: { containers: [{ $patch: 'merge' }] } } } }, 'application/strategic-merge-patch+json');
    assert.deepEqual([mergeList.status, mergeList.json['message']], [500, 'merging lists cannot yet be specified in the patch']);
    const retain = await api('PATCH', deployPath('smp'), { spec: { strategy: { $retainKeys: ['type'], type: 'Recreate', rollingUpdate: { maxSurge: 1 } } } }, 'application/strategic-merge-patch+json');
    assert.deepEqual([retain.status, retain.json['message']], [400, 'invalid patch format of retainKeys']);
    const noKey = await api('PATCH', deployPath('smp'), { spec: { template: { spec: { containers: [{ image: 'x:9' }] } } } }, 'application/strategic-merge-patch+json');
    assert.deepEqual([noKey.status, noKey.json['message']], [500, 'map: map[image:x:9] does not contain declared merge key: name']);
  });
});

describe("helm 3's three-way strategic merge on rollback", () => {
  it('a sidecar kubectl patch added stays through `helm rollback` (the original manifest never had it), while the image goes back', async () => {
    const chart = join(dir, 'chart');
    await mkdir(join(chart, 'templates'), { recursive: true });
    await writeFile(join(chart, 'Chart.yaml'), 'apiVersion: v2\nname: web\nversion: 0.1.0\n');
    await writeFile(join(chart, 'values.yaml'), 'tag: "1.25"\n');
    await writeFile(
      join(chart, 'templates', 'deployment.yaml'),
      'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web3\nspec:\n  selector:\n    matchLabels: {app: web3}\n  template:\n    metadata:\n      labels: {app: web3}\n    spec:\n      containers:\n        - name: web\n          image: "nginx:{{ .Values.tag }}"\n',
    );
    const helm3 = async (...args: string[]): Promise<void> => {
      const res = await run(tools.helm3, [...args, '-n', ns]);
      assert.equal(res.code, 0, `helm3 ${args.join(' ')}:\n${res.stdout}${res.stderr}`);
    };
    await helm3('install', 'web3', chart);
    await helm3('upgrade', 'web3', chart, '--set', 'tag=1.26');
    await kubectl('patch', 'deployment/web3', '-n', ns, '-p', JSON.stringify({ spec: { template: { spec: { containers: [{ name: 'sidecar', image: 'envoy:1' }] } } } }));
    await helm3('rollback', 'web3', '1');
    const patch = server.requests.filter((r) => r.method === 'PATCH' && r.path === deployPath('web3') && r.userAgent.startsWith('Helm/')).at(-1);
    assert.deepEqual(patch?.body, { spec: { template: { spec: { '$setElementOrder/containers': [{ name: 'web' }], containers: [{ image: 'nginx:1.25', name: 'web' }] } } } });
    assert.deepEqual(containers('web3').map((c) => `${c['name']}=${c['image']}`), ['sidecar=envoy:1', 'web=nginx:1.25']);
  });
});
