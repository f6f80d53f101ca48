/**
 * Shared steps of the end-to-end stories: the users, the test chart, compliant Deployments, and how a
 * story reads what helm, kubectl and the admission chain did.
 */
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { ApiException, AppsV1Api, KubeConfig } from '@kubernetes/client-node';
import type { KubeObject } from '../../src/k8s/types.js';
import { templateChange } from '../../src/recorder/template-change.js';
import { findWorkloadDoc } from '../../src/recorder/workload-patch.js';
import { splitManifest } from '../../src/yaml/manifest-doc.js';
import type { AdmissionRun } from '../support/admission-chain/index.js';
import type { Any, As, StoryCluster } from '../support/cluster.js';
import type { ToolResult } from '../support/tools.js';

/** The chart CI deploys; provenance goes into `annotations` with `--set-string`. */
export const CHART = fileURLToPath(new URL('../fixtures/charts/story', import.meta.url));

/** Team A's registry policy (allowed: registry.example.com/team-a/), loaded with the bundled ones. */
export const TEAM_A_REGISTRY_POLICY = fileURLToPath(new URL('./fixtures/team-a-registry.yaml', import.meta.url));

/** The people and machines of the stories. */
export const CI: As = { user: 'system:serviceaccount:ci:deployer', groups: ['system:serviceaccounts', 'system:serviceaccounts:ci'] };
export const ALICE: As = { user: 'alice', groups: ['team-a:developers'] };
/** On call this week: may break glass. */
export const CAROL: As = { user: 'carol', groups: ['team-a:developers', 'tracegate:break-glass'] };
export const BOT: As = { user: 'system:serviceaccount:orchestrator:bot', groups: ['system:serviceaccounts', 'system:serviceaccounts:orchestrator'] };
export const HPA: As = { user: 'system:serviceaccount:kube-system:horizontal-pod-autoscaler', groups: ['system:serviceaccounts', 'system:serviceaccounts:kube-system'] };

/** An image from team A's own registry path. */
export function teamImage(tag: string, repo = 'web'): string {
  return `registry.example.com/team-a/${repo}:${tag}`;
}

/** A Deployment every bundled policy accepts, given provenance annotations; its one container is named like it. */
export function compliantDeployment(name: string, namespace: string, annotations: Record<string, string>, image = teamImage('1.0.0')): Any {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace, ...(Object.keys(annotations).length ? { annotations } : {}) },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          containers: [{ name, image, resources: { requests: { cpu: '100m', memory: '64Mi' }, limits: { cpu: '200m', memory: '128Mi' } } }],
        },
      },
    },
  };
}

/** Fails the test with the tool's output unless it exited 0. */
export function ok(res: ToolResult, what: string): ToolResult {
  assert.equal(res.code, 0, `${what} failed:\n${res.stdout}${res.stderr}`);
  return res;
}

/** The AppsV1Api a program running as `as` would use. */
export async function appsApi(c: StoryCluster, as: As): Promise<AppsV1Api> {
  const kc = new KubeConfig();
  kc.loadFromFile(await c.kubeconfig(as));
  return kc.makeApiClient(AppsV1Api);
}

/** The Status an API call was refused with (fails the test when the call succeeds). */
export async function refused(call: () => Promise<unknown>): Promise<{ code: number; status: Any }> {
  try {
    await call();
  } catch (err) {
    assert.ok(err instanceof ApiException, `expected an API error, got ${String(err)}`);
    return { code: err.code, status: JSON.parse(String(err.body)) as Any };
  }
  assert.fail('the API call was admitted');
}

/** The first container's image of a stored Deployment. */
export function imageOf(obj: Any | undefined): string {
  assert.ok(obj, 'the deployment exists');
  return obj['spec']['template']['spec']['containers'][0]['image'];
}

/** The stored Deployment's annotations. */
export function annotationsOf(obj: Any | undefined): Record<string, string> {
  assert.ok(obj, 'the deployment exists');
  return obj['metadata']['annotations'] ?? {};
}

/** One row of `helm history -o json`. */
export interface HelmHistoryRow {
  revision: number;
  status: string;
  chart: string;
  description: string;
}

// helm history shows the last 256 revisions by default; the stories never get near that.
/** `helm history REL -n NS -o json`, parsed. */
export async function helmHistory(c: StoryCluster, release: string, namespace: string, as: As = CI): Promise<HelmHistoryRow[]> {
  const res = ok(await c.helm(['history', release, '-n', namespace, '-o', 'json'], as), 'helm history');
  return JSON.parse(res.stdout) as HelmHistoryRow[];
}

/** The release labels of one revision, as `helm get metadata` prints them. */
export async function helmLabels(c: StoryCluster, release: string, namespace: string, revision: number): Promise<Record<string, string>> {
  const res = ok(await c.helm(['get', 'metadata', release, '-n', namespace, '--revision', String(revision), '-o', 'json'], CI), 'helm get metadata');
  return (JSON.parse(res.stdout) as Any)['labels'] ?? {};
}

/** True when the live Deployment runs the pod template of the revision's manifest (apiserver defaults aside). */
export async function runsRevision(c: StoryCluster, release: string, namespace: string, revision: number, name = release): Promise<boolean> {
  const manifest = ok(await c.helm(['get', 'manifest', release, '-n', namespace, '--revision', String(revision)], CI), 'helm get manifest').stdout;
  const part = findWorkloadDoc(splitManifest(manifest), 'Deployment', name);
  assert.ok(part, `revision ${revision} has Deployment ${name}`);
  const recorded = (part.doc.toJS() as KubeObject).spec?.['template'];
  const live = c.deployment(namespace, name);
  assert.ok(live, `deployment ${namespace}/${name} exists`);
  return templateChange(recorded as never, live['spec']['template']).changes.length === 0;
}

/** The admission runs since `start` (an index into `chain.history`) for Deployment writes by `user`. */
export function runsBy(c: StoryCluster, start: number, user: string | undefined): AdmissionRun[] {
  return c.chain.history.slice(start).filter((r) => r.request.userInfo.username === user);
}

/** The `[webhook, outcome]` pairs of a set of runs. */
export function outcomes(runs: readonly AdmissionRun[]): [string, string][] {
  return runs.flatMap((r) => r.calls.map((call): [string, string] => [call.webhook, call.outcome]));
}
