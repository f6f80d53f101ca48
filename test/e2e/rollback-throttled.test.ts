/**
 * Rollback under API Priority and Fairness (issue 13, "priority under throttling"): with the install's
 * FlowSchema and priority level applied, tenant traffic is refused with APF's 429 while 50 concurrent
 * `tracegate rollback`s by the on-call group go through, each landing exactly on its revision, and the
 * recorder (in the same flow) records every one as "Rollback to 1".
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { startStoryCluster, type Any, type As, type StoryCluster } from '../support/cluster.js';
import { ALICE, CI, compliantDeployment, helmHistory, ok, teamImage } from './helpers.js';

const NS = 'team-a';
const FLEET = 50;
const names = Array.from({ length: FLEET }, (_, i) => `fleet-${i}`);
/** On call: in tracegate:rollback, whose requests the install's FlowSchema puts on its own priority level. */
const ONCALL: As = { user: 'dana', groups: ['team-a:developers', 'tracegate:rollback'] };
const FLOWCONTROL = fileURLToPath(new URL('../../manifests/flowcontrol.yaml', import.meta.url));
let c: StoryCluster;

before(async () => {
  c = await startStoryCluster({ namespaces: [{ name: NS, tenant: NS }], historyMax: 0 });
  ok(await c.kubectl(['apply', '-f', '-'], { input: await readFile(FLOWCONTROL, 'utf8') }), 'kubectl apply flowcontrol.yaml');
  const fleet = names.map((n) => {
    const d = compliantDeployment(n, NS, { 'ci/commit': '1111111', approvedBy: 'bob' });
    d['metadata']['labels'] = { fleet: 'yes' };
    return JSON.stringify(d);
  });
  ok(await c.kubectl(['apply', '-f', '-'], { ...CI, input: fleet.join('\n') }), 'kubectl apply (the fleet)');
  for (const n of names) await c.recorded(NS, n);
  ok(await c.kubectl(['annotate', 'deployments', '-l', 'fleet=yes', 'ci/commit=2222222', 'approvedBy=bob', '--overwrite', '-n', NS], ALICE), 'kubectl annotate');
  ok(await c.kubectl(['set', 'image', 'deployments', '-l', 'fleet=yes', `*=${teamImage('1.5.0')}`, '-n', NS], ALICE), 'kubectl set image');
  for (const n of names) await c.recorded(NS, n);
});

after(async () => {
  await c?.close();
});

/** One tenant write as a program would send it: a strategic-merge patch with alice's token, no retries. */
async function tenantWrite(name: string): Promise<{ status: number; retryAfter: string | null; text: string }> {
  const token = c.server.token(ALICE.user, ALICE.groups);
  const res = await fetch(`${c.server.url}/apis/apps/v1/namespaces/${NS}/deployments/${name}`, {
    method: 'PATCH',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/strategic-merge-patch+json' },
    body: JSON.stringify({ metadata: { annotations: { note: 'tenant write' } } }),
  });
  return { status: res.status, retryAfter: res.headers.get('retry-after'), text: await res.text() };
}

describe('rollback under throttling', () => {
  it('50 concurrent rollbacks complete exactly while tenant writes are refused with 429', async () => {
    // Tenant traffic: people (global-default) and ServiceAccounts (workload-low) — everything but the rollback flow.
    c.server.faults.throttle({ priorityLevel: 'global-default', retryAfterSeconds: 1 });
    c.server.faults.throttle({ priorityLevel: 'workload-low', retryAfterSeconds: 1 });
    const requestsBefore = c.server.requests.length;

    const targets = names.flatMap((n) => [`${NS}/${n}`, '1']);
    const [rollback, tenant] = await Promise.all([
      c.tracegate(['rollback', ...targets, '--parallel', String(FLEET)], ONCALL),
      Promise.all(names.slice(0, 10).map((n) => tenantWrite(n))),
    ]);

    assert.equal(rollback.code, 0, rollback.stderr);
    assert.equal(rollback.stdout.match(/^Rollback was a success: /gm)?.length, FLEET, rollback.stdout);
    for (const t of tenant) {
      assert.equal(t.status, 429, t.text);
      assert.equal(t.retryAfter, '1');
    }
    for (const n of names) {
      const live = c.deployment(NS, n)!;
      assert.deepEqual((live['spec']['template']['spec']['containers'] as Any[]).map((x) => x['image']), [teamImage('1.0.0')], n);
      assert.equal(live['metadata']['annotations']?.['note'], undefined, `${n}: no tenant write landed`);
    }
    // The rollbacks' own requests were classified into the install's flow, never throttled.
    const mine = c.server.requests.slice(requestsBefore).filter((r) => r.user === ONCALL.user);
    assert.ok(mine.length >= FLEET * 2, `the rollbacks made ${mine.length} requests`);
    assert.deepEqual([...new Set(mine.map((r) => `${r.flowSchema}/${r.priorityLevel}/${r.status === 429 ? 429 : 'ok'}`))], ['tracegate-rollback/tracegate-rollback/ok']);
    // The recorder is in that flow too: it records every rollback while tenants are still throttled.
    for (const n of names) await c.recorded(NS, n);
    const recorder = c.server.requests.slice(requestsBefore).filter((r) => r.user === 'system:serviceaccount:tracegate:tracegate-recorder');
    assert.ok(recorder.length > 0 && recorder.every((r) => r.priorityLevel === 'tracegate-rollback' && r.status !== 429));
    c.server.faults.clear();
    const rows = await helmHistory(c, names[0]!, NS);
    assert.deepEqual(rows.map((r) => [r.revision, r.status, r.description]).at(-1), [3, 'deployed', 'Rollback to 1']);
  });
});
