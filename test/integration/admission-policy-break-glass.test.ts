/**
 * Break glass while the gate is down (issue 13, item 3), driven by the real kubectl through the test
 * API server with the admission chain plugged in: the gate's webhooks as `manifests/` renders them,
 * pointed at an address nothing listens on (so validate.tracegate.io fails closed), plus — in this
 * test's own copy, not in manifests/ — a matchCondition skipping them for members of
 * `tracegate:break-glass` whose object carries `tracegate.io/break-glass`; and a
 * ValidatingAdmissionPolicy, evaluated inside the apiserver, that refuses that annotation unless the
 * requester is in the group and the annotation names the requester. Expected texts follow
 * `policy/validating/dispatcher.go` and kubectl's own printing of 403 and 422 Status errors.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments, stringify } from 'yaml';
import { createAdmissionChain, loadAdmissionPolicies, loadWebhookConfigs } from '../support/admission-chain/index.js';
import type { AdmissionChain } from '../support/admission-chain/index.js';
import { startTestApiServer, type TestApiServer } from '../support/api-server/index.js';
import { createKubectlLocal } from '../support/kubectl-local.js';
import { ensureRealTools, runTool, type RealTools, type ToolResult } from '../support/tools.js';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** A hang guard for the suite, not a speed check. */
const HANG_GUARD_MS = 180_000;
const NS = 'team-a';
const GROUP = 'tracegate:break-glass';
const ANNOTATION = 'tracegate.io/break-glass';
const POLICY = 'break-glass.tracegate.io';

type Any = Record<string, any>;

/** The exemption this test adds to each of the gate's webhooks (the install does not ship it). */
const NOT_BREAK_GLASS = {
  name: 'not-break-glass',
  expression:
    `!(has(request.userInfo.groups) && '${GROUP}' in request.userInfo.groups && ` +
    `object != null && has(object.metadata.annotations) && '${ANNOTATION}' in object.metadata.annotations)`,
};

/** The proof the apiserver checks: who may carry the annotation, and that it names them. */
const BREAK_GLASS_POLICY = `
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: ${POLICY}
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
      - apiGroups: ["apps"]
        apiVersions: ["v1"]
        operations: ["CREATE", "UPDATE"]
        resources: ["deployments"]
  matchConditions:
    - name: carries-break-glass
      expression: "has(object.metadata.annotations) && '${ANNOTATION}' in object.metadata.annotations"
  variables:
    - name: claimed
      expression: "object.metadata.annotations['${ANNOTATION}']"
    - name: member
      expression: "has(request.userInfo.groups) && '${GROUP}' in request.userInfo.groups"
  validations:
    - expression: variables.member
      reason: Forbidden
      messageExpression: "request.userInfo.username + ' is not in group ${GROUP}: only its members may write ${ANNOTATION}'"
    - expression: variables.claimed == request.userInfo.username
      messageExpression: "'${ANNOTATION} must name the requester (' + request.userInfo.username + '), not ' + string(variables.claimed)"
  auditAnnotations:
    - key: user
      valueExpression: "variables.member && variables.claimed == request.userInfo.username ? request.userInfo.username : ''"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: ${POLICY}
spec:
  policyName: ${POLICY}
  validationActions: [Deny]
`;

let tools: RealTools;
let dir: string;
let server: TestApiServer;
let chain: AdmissionChain;
let deadPort: number;
/** `kubectl kustomize manifests/`. */
let rendered: string;
const kubeconfigs = new Map<string, string>();

/** A port that was just free: nothing answers there, so every call is refused. */
async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

/**
 * The rendered install's webhook configurations with NOT_BREAK_GLASS as every webhook's last
 * matchCondition, in place of any condition of that name the install ships (so this scenario does
 * not depend on the install's own break-glass design, tested further down).
 */
function withExemption(rendered: string): string {
  const exempt = (w: Any) => ({ ...w, matchConditions: [...(w['matchConditions'] ?? []).filter((c: Any) => c['name'] !== NOT_BREAK_GLASS.name), NOT_BREAK_GLASS] });
  return webhookDocs(rendered)
    .map((o) => stringify({ ...o, webhooks: o['webhooks'].map(exempt) }))
    .join('---\n');
}

function webhookDocs(rendered: string): Any[] {
  return parseAllDocuments(rendered)
    .map((d) => d.toJS() as Any)
    .filter((o) => o?.['kind'] === 'MutatingWebhookConfiguration' || o?.['kind'] === 'ValidatingWebhookConfiguration');
}

function kubectl(user: string, args: string[], input?: string): Promise<ToolResult> {
  return runTool(tools.kubectl, args, { env: { KUBECONFIG: kubeconfigs.get(user)! }, ...(input === undefined ? {} : { input }) });
}

function deployment(image: string, annotations?: Record<string, string>, name = 'web'): string {
  return JSON.stringify({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: NS, ...(annotations === undefined ? {} : { annotations }) },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: 'web' } },
      template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image }] } },
    },
  });
}

const stored = (): Any | undefined => server.store.get('deployments', NS, 'web') as Any | undefined;
const image = (): string | undefined => stored()?.['spec']['template']['spec']['containers'][0]['image'];
const denied = (message: string) => `ValidatingAdmissionPolicy '${POLICY}' with binding '${POLICY}' denied request: ${message}`;
const GATE_DOWN = /Internal error occurred: failed calling webhook "validate\.tracegate\.io": failed to call webhook: Post "https:\/\/tracegate\.tracegate\.svc:443\/validate\?timeout=5s": dial tcp 127\.0\.0\.1:\d+: connect: connection refused/;

before(async () => {
  tools = await ensureRealTools();
  dir = await mkdtemp(join(tmpdir(), 'tracegate-break-glass-'));
  deadPort = await closedPort();
  rendered = await createKubectlLocal(tools).kustomize(join(REPO_ROOT, 'manifests'));
  server = await startTestApiServer();
  server.store.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
  for (const [user, groups] of [['alice', ['system:authenticated']], ['bob', [GROUP, 'system:authenticated']]] as const) {
    kubeconfigs.set(user, await server.kubeconfig(await mkdtemp(join(dir, 'kc-')), { user, groups: [...groups] }));
  }
  // Revision 1, written before the outage (no admission).
  const created = await kubectl('alice', ['apply', '-f', '-'], deployment('registry.example.com/team-a/web:1.4.2'));
  assert.equal(created.code, 0, created.stderr);
  chain = gateDownChain(withExemption(rendered), BREAK_GLASS_POLICY);
  server.setAdmission(chain.hook);
});

/** A chain of these webhook configurations and policies, every webhook at the closed port. */
function gateDownChain(webhooks: string, policies: string): AdmissionChain {
  return createAdmissionChain({
    ...loadWebhookConfigs(webhooks),
    ...loadAdmissionPolicies(policies),
    resolveService: () => ({ host: '127.0.0.1', port: deadPort }),
    namespaceLabels: (ns) => {
      const obj = server.store.get('namespaces', '', ns) as Any | undefined;
      return obj === undefined ? undefined : (obj['metadata']['labels'] ?? {});
    },
    namespaceObject: (ns) => server.store.get('namespaces', '', ns) as Any | undefined,
  });
}

after(async () => {
  chain?.close();
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('break glass while the gate is down', { timeout: HANG_GUARD_MS }, () => {
  it('the gate is down: an ordinary change is refused by validate.tracegate.io failing closed (mutate fails open)', async () => {
    const res = await kubectl('alice', ['set', 'image', 'deployment/web', 'web=registry.example.com/team-a/web:1.4.3', '-n', NS]);
    assert.equal(res.code, 1);
    assert.match(res.stderr, GATE_DOWN);
    assert.deepEqual(chain.lastCalls.map((c) => [c.webhook, c.outcome]), [['mutate.tracegate.io', 'failed-open'], ['validate.tracegate.io', 'failed-closed']]);
    assert.deepEqual(chain.last?.policies.evaluated, [`${POLICY}/${POLICY}`], 'the policy matched the resource…');
    assert.deepEqual(chain.last?.policies.conditionsNotMet, [`${POLICY}/${POLICY}`], '…but no annotation: nothing to check');
    assert.equal(image(), 'registry.example.com/team-a/web:1.4.2');
  });

  it('alice (not in the group) carrying the annotation: the apiserver itself refuses it, 403 with the policy\'s message', async () => {
    const notMember = denied(`alice is not in group ${GROUP}: only its members may write ${ANNOTATION}`);
    const create = await kubectl('alice', ['apply', '-f', '-'], deployment('registry.example.com/team-a/web:1.4.1', { [ANNOTATION]: 'alice' }, 'hotfix'));
    assert.equal(create.code, 1);
    assert.equal(create.stderr, `Error from server (Forbidden): error when creating "STDIN": deployments.apps "hotfix" is forbidden: ${notMember}\n`);
    // mutate.tracegate.io (Ignore) failed open first; the policy ran before validate.tracegate.io, which was never called.
    assert.deepEqual(chain.lastCalls.map((c) => [c.webhook, c.outcome]), [['mutate.tracegate.io', 'failed-open']]);
    // The annotation names alice herself: only the group check failed.
    assert.deepEqual(chain.last?.policies.decisions.map((d) => [d.source, d.evaluation, d.actions]), [[{ validation: 0 }, 'deny', ['Deny']]]);
    assert.equal(server.store.get('deployments', NS, 'hotfix'), undefined);

    const apply = await kubectl('alice', ['apply', '-f', '-'], deployment('registry.example.com/team-a/web:1.4.1', { [ANNOTATION]: 'alice' }));
    assert.ok(apply.stderr.startsWith('Error from server (Forbidden): error when applying patch:\n'), apply.stderr);
    assert.ok(apply.stderr.endsWith(`for: "STDIN": error when patching "STDIN": deployments.apps "web" is forbidden: ${notMember}\n`), apply.stderr);
    const annotate = await kubectl('alice', ['annotate', 'deployment', 'web', `${ANNOTATION}=alice`, '-n', NS]);
    assert.equal(annotate.stderr, `Error from server (Forbidden): deployments.apps "web" is forbidden: ${notMember}\n`);
    assert.equal(image(), 'registry.example.com/team-a/web:1.4.2');
  });

  it('bob (in the group) naming someone else: 422 Invalid, as kubectl prints it from the Status cause', async () => {
    const res = await kubectl('bob', ['annotate', 'deployment', 'web', `${ANNOTATION}=alice`, '-n', NS]);
    assert.equal(res.code, 1);
    assert.equal(res.stderr, `The deployments "web" is invalid: : ${denied(`${ANNOTATION} must name the requester (bob), not alice`)}\n`);
    // His request skipped both gate webhooks (the exemption), so only the policy judged it.
    assert.deepEqual(chain.lastCalls, []);
    assert.equal(stored()?.['metadata']['annotations']?.[ANNOTATION], undefined);
  });

  it('bob rolls back to revision 1\'s image with the annotation naming himself: admitted with the gate down, and on record', async () => {
    const res = await kubectl('bob', ['apply', '-f', '-'], deployment('registry.example.com/team-a/web:1.4.2-rollback', { [ANNOTATION]: 'bob' }));
    assert.equal(res.code, 0, res.stderr);
    assert.equal(res.stdout, 'deployment.apps/web configured\n');
    assert.deepEqual(chain.lastCalls, [], 'no webhook was called: the gate is not needed');
    assert.deepEqual(chain.last?.skipped.filter((s) => s.reason === 'matchConditions').map((s) => [s.webhook, s.condition]), [
      ['mutate.tracegate.io', 'not-break-glass'],
      ['validate.tracegate.io', 'not-break-glass'],
    ]);
    assert.deepEqual(chain.last?.policies.decisions, []);
    assert.equal(chain.last?.auditAnnotations[`${POLICY}/user`], 'bob');
    assert.equal(image(), 'registry.example.com/team-a/web:1.4.2-rollback');
    assert.equal(stored()?.['metadata']['annotations'][ANNOTATION], 'bob');
  });

  it('bob without the annotation is not exempt: the gate being down refuses him like anyone', async () => {
    const res = await kubectl('bob', ['create', 'deployment', 'other', '--image=registry.example.com/team-a/other:1.0.0', '-n', NS]);
    assert.equal(res.code, 1);
    assert.match(res.stderr, GATE_DOWN);
    assert.equal(server.store.get('deployments', NS, 'other'), undefined);
  });

  it('the annotation stays on the object: a later change by alice carries it and is refused by the policy', async () => {
    const res = await kubectl('alice', ['scale', 'deployment', 'web', '--replicas=3', '-n', NS]);
    // Scaling is not judged by the policy (its rules name deployments, not deployments/scale); scale.validate (Ignore) fails open.
    assert.equal(res.code, 0, res.stderr);
    assert.deepEqual(chain.last?.policies.evaluated, []);
    const write = await kubectl('alice', ['set', 'image', 'deployment/web', 'web=registry.example.com/team-a/web:1.4.3', '-n', NS]);
    assert.equal(write.code, 1);
    assert.match(write.stderr, /deployments\.apps "web" is forbidden: ValidatingAdmissionPolicy 'break-glass\.tracegate\.io' with binding 'break-glass\.tracegate\.io' denied request: alice is not in group tracegate:break-glass/);
    assert.equal(image(), 'registry.example.com/team-a/web:1.4.2-rollback');
  });
});

describe('the install\'s own break glass (manifests/: webhooks.yaml and its ValidatingAdmissionPolicy), the gate down', { timeout: HANG_GUARD_MS }, () => {
  const BY = 'tracegate.io/break-glass-by';
  let shipped: AdmissionChain | undefined;
  let policyName = '';
  const apply = (user: string, img: string, by?: string) => kubectl(user, ['apply', '-f', '-'], deployment(img, by === undefined ? undefined : { [BY]: by }, 'api'));
  const apiImage = () => (server.store.get('deployments', NS, 'api') as Any | undefined)?.['spec']['template']['spec']['containers'][0]['image'];

  before(async () => {
    const policies = loadAdmissionPolicies(rendered);
    if (policies.policies.length === 0) return;
    policyName = policies.policies[0]!.metadata.name;
    server.setAdmission(undefined);
    const created = await apply('alice', 'registry.example.com/team-a/api:2.0.0');
    assert.equal(created.code, 0, created.stderr);
    shipped = gateDownChain(rendered, rendered);
    server.setAdmission(shipped.hook);
  });

  after(() => {
    shipped?.close();
    server.setAdmission(chain.hook);
  });

  it('loads as the apiserver would store it; alice setting the annotation is refused by the policy', async (t) => {
    if (shipped === undefined) return t.skip('the install ships no ValidatingAdmissionPolicy');
    const res = await apply('alice', 'registry.example.com/team-a/api:1.9.0', 'alice/2026-12-06T05:00:00Z');
    assert.equal(res.code, 1);
    assert.match(res.stderr, new RegExp(`deployments\\.apps "api" is forbidden: ValidatingAdmissionPolicy '${policyName}' with binding '[^']+' denied request: ${BY.replace(/\./g, '\\.')} may only be set by a member of ${GROUP}`));
    assert.equal(apiImage(), 'registry.example.com/team-a/api:2.0.0');
  });

  it('bob setting a fresh "bob/<time>" goes past the downed gate; keeping it on a later write exempts nothing', async (t) => {
    if (shipped === undefined) return t.skip('the install ships no ValidatingAdmissionPolicy');
    const res = await apply('bob', 'registry.example.com/team-a/api:1.9.0', 'bob/2026-12-06T05:01:00Z');
    assert.equal(res.code, 0, res.stderr);
    assert.deepEqual(shipped.lastCalls, [], 'no webhook was called');
    assert.equal(apiImage(), 'registry.example.com/team-a/api:1.9.0');
    const stale = await apply('bob', 'registry.example.com/team-a/api:1.8.0', 'bob/2026-12-06T05:01:00Z');
    assert.equal(stale.code, 1);
    assert.match(stale.stderr, GATE_DOWN);
    const someoneElse = await apply('bob', 'registry.example.com/team-a/api:1.8.0', 'alice/2026-12-06T05:02:00Z');
    assert.match(someoneElse.stderr, /may only be set by a member of tracegate:break-glass, to their own user name/);
    assert.equal(apiImage(), 'registry.example.com/team-a/api:1.9.0');
  });
});
