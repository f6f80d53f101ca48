/**
 * `tracegate record --policy-source cluster`: the background audit judges by the TracegatePolicy objects
 * the gate enforces, followed live and read-only — a policy applied with kubectl re-audits every
 * workload, a deleted one takes its results along, and the recorder never writes a policy's status
 * (the gate's replicas do).
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { REPORT_NAME } from '../../src/audit/report.js';
import { runRecordCommand } from '../../src/cli/record.js';
import type { CliIo } from '../../src/cli/io.js';
import { LEASE_NAMESPACE, PREFIX, createRecorderHarness, type Any, type RecorderHarness } from '../support/recorder-harness.js';

const CRDS = ['wgpolicyk8s-policyreports.yaml', 'tracegatepolicy.yaml'].map((f) => fileURLToPath(new URL(`../../manifests/crds/${f}`, import.meta.url)));
const RECORDER = 'system:serviceaccount:tracegate:recorder';

let h: RecorderHarness;
const signals = new EventEmitter();
let exited: Promise<number>;
const stderr: string[] = [];

function policy(name: string, rules: unknown[]): string {
  return JSON.stringify({ apiVersion: 'tracegate.io/v1alpha1', kind: 'TracegatePolicy', metadata: { name }, spec: { version: '1.0.0', rules } });
}

async function kubectl(args: string[], input?: string): Promise<string> {
  if (input === undefined) return (await h.ok(h.tools.kubectl, args)).stdout;
  const file = `${h.dir}/input-${Math.random().toString(36).slice(2)}.json`;
  await (await import('node:fs/promises')).writeFile(file, input);
  return (await h.ok(h.tools.kubectl, [...args, '-f', file])).stdout;
}

/** `name policy/rule result` of team-a's stored report, sorted. */
function results(): string[] {
  let report: Any | undefined;
  try {
    report = h.server.store.get('policyreports', 'team-a', REPORT_NAME) as Any | undefined;
  } catch {
    return [];
  }
  return ((report?.['results'] ?? []) as Any[]).map((r) => `${r['resources'][0]['name']} ${r['policy']}/${r['rule']} ${r['result']}`).sort();
}

before(async () => {
  h = await createRecorderHarness();
  for (const crd of CRDS) await kubectl(['apply', '-f', crd]);
  h.server.store.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-a', labels: { [`${PREFIX}tenant`]: 'team-a' } } });
  await kubectl(['apply'], policy('images', [{ id: 'no-latest', action: 'deny', fix: 'pin a version tag', images: { disallowedTags: ['latest'] } }]));
  const image = 'registry.example.com/team-a/api:latest';
  await kubectl(['apply'], JSON.stringify({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'api', namespace: 'team-a', labels: { app: 'api' } }, spec: { replicas: 1, selector: { matchLabels: { app: 'api' } }, template: { metadata: { labels: { app: 'api' } }, spec: { containers: [{ name: 'api', image }] } } } }));
  const io: CliIo = { stdout: () => undefined, stderr: (s) => void stderr.push(s), readStdin: async () => '', env: { POD_NAMESPACE: LEASE_NAMESPACE, POD_NAME: 'recorder-0' }, cwd: h.dir };
  const kubeconfig = await h.kubeconfig(RECORDER);
  exited = runRecordCommand(['--kubeconfig', kubeconfig, '--policy-source', 'cluster', '--audit-interval', '1h', '--metrics-port', '0', '--annotation-prefix', PREFIX, '--log-level', 'silent'], io, signals);
});

after(async () => {
  signals.emit('SIGTERM');
  await exited;
  await h?.close();
});

describe('the audit follows the TracegatePolicy objects (--policy-source cluster)', () => {
  it('judges by the objects in the cluster, not the bundled files', async () => {
    await h.waitFor('team-a judged by the images policy', () => results().join() === 'api images/no-latest fail');
  });

  it('re-audits every workload when a policy is applied with kubectl, and drops the results of a deleted one', async () => {
    await kubectl(['apply'], policy('owners', [{ id: 'owner', action: 'audit', metadata: { labels: [{ key: 'owner' }] } }]));
    await h.waitFor('the new policy\'s results', () => results().includes('api owners/owner fail'));
    assert.deepEqual(results(), ['api images/no-latest fail', 'api owners/owner fail']);
    await kubectl(['delete', 'tracegatepolicy', 'images']);
    await h.waitFor('the deleted policy\'s results gone', () => results().join() === 'api owners/owner fail');
  });

  it('reads the objects and never writes their status', () => {
    const mine = h.server.requests.filter((r) => r.user === RECORDER && r.path.includes('/tracegatepolicies'));
    assert.ok(mine.some((r) => r.method === 'GET' && r.query['watch'] === 'true') || mine.some((r) => r.method === 'GET'), 'listed and watched');
    assert.deepEqual(mine.filter((r) => r.method !== 'GET').map((r) => `${r.method} ${r.path}`), []);
    assert.deepEqual(stderr, []);
  });
});
