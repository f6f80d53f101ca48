/**
 * One engine for every pod-bearing kind: the pod template is found per kind and violation paths carry
 * the kind's prefix. Job and CronJob come from the real `kubectl create job|cronjob --dry-run=client`;
 * the kinds kubectl cannot create offline are built from a real Deployment's template.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { before, describe, it } from 'node:test';
import type { KubeObject, PodTemplate } from '../../src/k8s/types.js';
import { WORKLOAD_KIND_NAMES } from '../../src/workload/kinds.js';
import { evaluate } from '../../src/policy/evaluate.js';
import { createPolicyLoader } from '../../src/policy/load.js';
import type { PolicySet, RequestContext } from '../../src/policy/types.js';
import { isWorkloadKind, podTemplateOf, templatePathPrefix } from '../../src/workload/pod-template.js';
import { createKubectlLocal } from '../support/kubectl-local.js';
import { ensureRealTools, runTool, type RealTools } from '../support/tools.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function policySet(...docs: Array<{ text: string; file: string }>): PolicySet {
  const schema = JSON.parse(readFileSync(join(ROOT, 'policies', 'policy.schema.json'), 'utf8')) as object;
  const loader = createPolicyLoader({ schema });
  return loader.toSet(docs.flatMap((d) => loader.parse(d.text, d.file)));
}

function bundled(...names: string[]): PolicySet {
  return policySet(...names.map((n) => ({ text: readFileSync(join(ROOT, 'policies', n), 'utf8'), file: `policies/${n}` })));
}

function ctx(operation: RequestContext['operation'], over: Partial<RequestContext> = {}): RequestContext {
  return { operation, namespace: 'team-a', username: 'alice', groups: ['system:authenticated'], fieldManager: 'kubectl-create', ...over };
}

async function kubectlJson(tools: RealTools, args: string[]): Promise<KubeObject> {
  const res = await runTool(tools.kubectl, [...args, '--dry-run=client', '-o', 'json']);
  assert.equal(res.code, 0, res.stderr);
  return JSON.parse(res.stdout) as KubeObject;
}

const clone = <T>(v: T): T => structuredClone(v);

describe('workload kinds', () => {
  /** Every kind with one container `nginx` running `nginx:latest` and no resources. */
  const objects = new Map<string, KubeObject>();
  const PREFIX: Record<string, string> = {
    Deployment: 'spec.template.',
    StatefulSet: 'spec.template.',
    DaemonSet: 'spec.template.',
    ReplicaSet: 'spec.template.',
    ReplicationController: 'spec.template.',
    Job: 'spec.template.',
    CronJob: 'spec.jobTemplate.spec.template.',
    Pod: '',
  };

  before(async () => {
    const tools = await ensureRealTools();
    const k = createKubectlLocal(tools);
    // kubectl names a Deployment's container after its image and a Job's after the Job: both `nginx` here.
    const dep = await k.createDeployment('app', { image: 'nginx:latest', namespace: 'team-a' });
    objects.set('Deployment', dep);
    const template = dep.spec?.['template'] as PodTemplate;
    const selector = dep.spec?.['selector'];
    objects.set('StatefulSet', { apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: clone(dep.metadata), spec: { serviceName: 'app', selector, template: clone(template) } });
    objects.set('DaemonSet', { apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: clone(dep.metadata), spec: { selector, template: clone(template) } });
    objects.set('ReplicaSet', { apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: clone(dep.metadata), spec: { replicas: 1, selector, template: clone(template) } });
    objects.set('ReplicationController', { apiVersion: 'v1', kind: 'ReplicationController', metadata: clone(dep.metadata), spec: { replicas: 1, template: clone(template) } });
    objects.set('Job', await kubectlJson(tools, ['create', 'job', 'nginx', '--image=nginx:latest', '-n', 'team-a']));
    objects.set('CronJob', await kubectlJson(tools, ['create', 'cronjob', 'nginx', '--image=nginx:latest', '--schedule=0 3 * * *', '-n', 'team-a']));
    objects.set('Pod', { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'app', namespace: 'team-a', ...clone(template.metadata) }, spec: clone(template.spec) });
  });

  it('every kind is a workload and has its pod template where the kind keeps it', () => {
    assert.deepEqual([...objects.keys()].sort(), Object.keys(PREFIX).sort());
    for (const [kind, obj] of objects) {
      assert.equal(isWorkloadKind(kind), true, kind);
      assert.equal(templatePathPrefix(kind), PREFIX[kind], kind);
      const t = podTemplateOf(obj);
      assert.equal(t?.spec?.containers?.[0]?.image, 'nginx:latest', `${kind} template found`);
    }
    for (const kind of ['Service', 'ConfigMap', 'Scale', undefined, 42]) assert.equal(isWorkloadKind(kind), false, String(kind));
  });

  it('image and resource violations carry the kind-specific path prefix', () => {
    const set = bundled('image-hygiene.yaml', 'resources.yaml');
    for (const [kind, obj] of objects) {
      const result = evaluate(set, ctx('CREATE'), obj, null);
      assert.equal(result.verdict, 'deny', kind);
      const p = `${PREFIX[kind]}spec.containers[0]`;
      assert.deepEqual(
        result.violations.map((v) => [v.policy, v.path, v.container]),
        [
          ['image-hygiene', `${p}.image`, 'nginx'],
          ['resources', `${p}.resources.requests`, 'nginx'],
          ['resources', `${p}.resources.limits`, 'nginx'],
        ],
        kind,
      );
    }
  });

  it('the bundled provenance policy selects every kind a person can create (controllers are kept away by matchConditions)', () => {
    const set = bundled('provenance.yaml');
    const judged = [...objects].filter(([, obj]) => evaluate(set, ctx('CREATE'), obj, null).applied.length > 0).map(([kind]) => kind);
    assert.deepEqual(judged.sort(), ['CronJob', 'DaemonSet', 'Deployment', 'Job', 'Pod', 'ReplicaSet', 'ReplicationController', 'StatefulSet']);
  });

  it('a CronJob schedule change is not a template change; an image change in its job template is', () => {
    const set = bundled('provenance.yaml');
    const cron = objects.get('CronJob')!;
    const rescheduled = clone(cron);
    rescheduled.spec!['schedule'] = '0 4 * * *';
    const r1 = evaluate(set, ctx('UPDATE', { fieldManager: 'kubectl-patch' }), rescheduled, cron);
    assert.equal(r1.templateChanged, false);
    assert.equal(r1.verdict, 'allow');
    const reimaged = clone(cron);
    podTemplateOf(reimaged)!.spec!.containers![0]!.image = 'nginx:1.27';
    const r2 = evaluate(set, ctx('UPDATE', { fieldManager: 'kubectl-set' }), reimaged, cron);
    assert.equal(r2.templateChanged, true);
    assert.deepEqual(r2.changes, ['image nginx: nginx:latest → nginx:1.27']);
    assert.equal(r2.verdict, 'deny');
  });

  it('a metadata rule on the pod template reads the right place for every kind', () => {
    const set = policySet({
      file: 'team-label.yaml',
      text: [
        'apiVersion: tracegate.io/v1alpha1',
        'kind: Policy',
        'metadata: {name: team-label}',
        'spec:',
        '  rules:',
        '    - id: team',
        '      metadata: {target: podTemplate, labels: [{key: team}]}',
      ].join('\n'),
    });
    for (const [kind, obj] of objects) {
      const v = evaluate(set, ctx('CREATE'), obj, null).violations;
      assert.deepEqual(v.map((x) => x.path), [`${PREFIX[kind]}metadata.labels`], kind);
      const labelled = clone(obj);
      const meta = (podTemplateOf(labelled)!.metadata ??= {});
      meta.labels = { ...meta.labels, team: 'payments' };
      // Job and CronJob templates from kubectl have `metadata: {}`; the label lands in the template either way.
      assert.deepEqual(evaluate(set, ctx('CREATE'), labelled, null).violations, [], `${kind} with label`);
    }
  });

  describe('Pods', () => {
    it('a label or annotation update of a Pod is not a template change', () => {
      const set = policySet({
        file: 'pod-provenance.yaml',
        text: 'apiVersion: tracegate.io/v1alpha1\nkind: Policy\nmetadata: {name: pod-provenance}\nspec:\n  match: {kinds: [Pod]}\n  rules:\n    - id: p\n      provenance: {}\n',
      });
      const pod = objects.get('Pod')!;
      const relabelled = clone(pod);
      relabelled.metadata = { ...relabelled.metadata, labels: { app: 'app', debug: 'true' }, resourceVersion: '2' };
      const result = evaluate(set, ctx('UPDATE', { fieldManager: 'kubectl-label' }), relabelled, pod);
      assert.equal(result.templateChanged, false);
      assert.equal(result.verdict, 'allow');
    });

    it('kubectl debug adds an ephemeral container through pods/ephemeralcontainers: it is judged', () => {
      const set = bundled('image-hygiene.yaml');
      const pod = clone(objects.get('Pod')!);
      podTemplateOf(pod)!.spec!.containers![0]!.image = 'nginx:1.27';
      const debugged = clone(pod);
      // A Pod is its own template view, so this edits the Pod's spec.
      podTemplateOf(debugged)!.spec!.ephemeralContainers = [{ name: 'debugger-x7k2', image: 'busybox', targetContainerName: 'nginx' }];
      const result = evaluate(set, ctx('UPDATE', { subResource: 'ephemeralcontainers', fieldManager: 'kubectl-debug' }), debugged, pod);
      assert.equal(result.verdict, 'deny');
      assert.deepEqual(result.violations.map((v) => [v.path, v.containerList, v.container]), [
        ['spec.ephemeralContainers[0].image', 'ephemeralContainers', 'debugger-x7k2'],
      ]);
      assert.match(result.violations[0]!.message, /^ephemeralContainer debugger-x7k2: image "busybox" has no tag/);
    });

    it('the status subresource of a Pod is not judged', () => {
      const set = bundled('image-hygiene.yaml');
      const pod = objects.get('Pod')!;
      const result = evaluate(set, ctx('UPDATE', { subResource: 'status', fieldManager: undefined, username: 'system:node:worker-1' }), pod, pod);
      assert.deepEqual(result.applied, []);
      assert.equal(result.verdict, 'allow');
    });
  });

  it('kinds that are not workloads, and workloads without a template, do not crash and find nothing', () => {
    const set = bundled('image-hygiene.yaml', 'resources.yaml', 'provenance.yaml');
    const service: KubeObject = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'app' }, spec: { ports: [{ port: 80 }] } };
    assert.deepEqual(evaluate(set, ctx('CREATE'), service, null), { verdict: 'allow', violations: [], applied: [], templateChanged: false, changes: [] });
    const empty: KubeObject = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'empty' } };
    const result = evaluate(set, ctx('CREATE', { fieldManager: 'helm' }), empty, null);
    assert.deepEqual(result.violations.map((v) => v.policy), ['provenance'], 'only provenance has something to say');
    assert.match(result.violations[0]!.message, /\(new workload\)/);
    const garbage = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'g' }, spec: { template: { spec: { containers: 'nope', initContainers: [null, 7] } } } } as unknown as KubeObject;
    assert.doesNotThrow(() => evaluate(set, ctx('CREATE'), garbage, garbage));
  });
});

describe('one list of workload kinds', () => {
  it('the policy schema names exactly the kinds of the workload table', () => {
    const schema = readFileSync(new URL('../../policies/policy.schema.json', import.meta.url), 'utf8');
    const m = /"kinds"[\s\S]*?"enum": (\[[^\]]*\])/.exec(schema);
    assert.ok(m, 'match.kinds has an enum');
    assert.deepEqual(JSON.parse(m[1]!), [...WORKLOAD_KIND_NAMES]);
  });
});
