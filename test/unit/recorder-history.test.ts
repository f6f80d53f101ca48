/**
 * The operator's history view: trail entries merged with Helm's revisions. Attribution comes from the
 * trail entry of each change, never from labels Helm copied from an earlier revision; revisions Helm
 * pruned and deletions still show.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatHistoryTable, historyRows } from '../../src/recorder/history.js';
import type { StoredRelease } from '../../src/recorder/storage.js';
import type { TrailEntry } from '../../src/recorder/trail.js';

const P = 'tracegate.io/';
const WEB = { kind: 'Deployment', name: 'web' };
const manifest = (commit: string) =>
  `---\n# Source: web/templates/deployment.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  annotations:\n    ci/commit: "${commit}"\n    approvedBy: carol\nspec:\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n        - name: web\n          image: nginx:1.25\n`;

function stored(version: number, status: string, description: string, labels: Record<string, string> = {}): StoredRelease {
  return {
    release: { name: 'web', version, namespace: 'shop', manifest: manifest(`sha${version}`), info: { status, description, last_deployed: '2026-11-22T10:00:00.123456789Z' }, chart: { metadata: { name: 'web', version: '0.1.0' } } },
    labels,
  };
}

function entry(seq: number, e: Partial<TrailEntry>): TrailEntry {
  return { seq, time: `2026-11-22T10:0${seq}:00Z`, event: 'change', uid: 'u1', verdict: 'verified', ...e };
}

describe('historyRows without a trail (revisions from before tracegate)', () => {
  const history = [
    stored(2, 'failed', 'Rollback "web" failed: conflict occurred\nwith kubectl-set'),
    stored(1, 'superseded', 'Install complete'),
    stored(3, 'deployed', 'image web: nginx:1.25 → nginx:1.26 (recorded)', { [`${P}recorded-by`]: 'tracegate', [`${P}recorded-revision`]: '3', [`${P}commit`]: 'c0ffee1', [`${P}verified`]: 'true', [`${P}changed-by`]: 'alice' }),
  ];

  it('orders by revision, takes Helm revisions provenance from their manifests, tracegate ones from labels written for them', () => {
    const rows = historyRows(history, [], P, WEB);
    assert.deepEqual(rows.map((r) => r.revision), [1, 2, 3]);
    assert.equal(rows[0]!.commit, 'sha1');
    assert.equal(rows[0]!.approver, 'carol');
    assert.equal(rows[0]!.verdict, undefined, 'tracegate never saw revision 1');
    assert.equal(rows[2]!.commit, 'c0ffee1', 'a recorded revision uses its labels, not the manifest');
    assert.equal(rows[2]!.user, 'alice');
    assert.equal(rows[2]!.verdict, 'verified');
    assert.equal(rows[0]!.chart, 'web-0.1.0');
  });

  it('ignores provenance labels Helm copied from the previous revision', () => {
    const copied = stored(4, 'deployed', 'Upgrade complete', { [`${P}recorded-by`]: 'tracegate', [`${P}recorded-revision`]: '3', [`${P}changed-by`]: 'alice', [`${P}field-manager`]: 'kubectl-set', [`${P}verified`]: 'true' });
    const [row] = historyRows([copied], [], P, WEB);
    assert.equal(row!.user, undefined, 'alice made revision 3, not Helm\'s revision 4');
    assert.equal(row!.fieldManager, undefined);
    assert.equal(row!.verdict, undefined);
    assert.equal(row!.commit, 'sha4', 'the manifest\'s own commit');
  });

  it('keeps one line per revision in the table, even for a multi-line failure reason', () => {
    const table = formatHistoryTable(historyRows(history, [], P, WEB));
    const lines = table.trimEnd().split('\n');
    assert.equal(lines.length, 4);
    assert.match(lines[2]!, /^2 .* failed .*Rollback "web" failed: conflict occurred with kubectl-set$/);
    assert.match(lines[1]!, /2026-11-22T10:00:00Z/, 'nanoseconds trimmed');
  });
});

describe('historyRows with a trail', () => {
  it('attributes a Helm-written revision to Helm\'s caller from the trail, after an out-of-band change', () => {
    const history = [
      stored(1, 'superseded', 'Install complete'),
      stored(2, 'superseded', 'image web: a → b by alice via kubectl-set (recorded)', { [`${P}recorded-by`]: 'tracegate', [`${P}recorded-revision`]: '2', [`${P}changed-by`]: 'alice' }),
      stored(3, 'deployed', 'Upgrade complete', { [`${P}recorded-by`]: 'tracegate', [`${P}recorded-revision`]: '2', [`${P}changed-by`]: 'alice' }),
    ];
    const entries = [
      entry(1, { revision: 1, revisionBy: 'helm', user: 'system:serviceaccount:ci:deployer', tool: 'helm', commit: '3f2a9c1', first: true }),
      entry(2, { revision: 2, revisionBy: 'tracegate', user: 'alice', tool: 'kubectl-set', commit: '8f2c1e7', approver: 'bob' }),
      entry(3, { revision: 3, revisionBy: 'helm', user: 'system:serviceaccount:ci:deployer', tool: 'helm', commit: 'a1b2c3d', approver: 'carol' }),
    ];
    const rows = historyRows(history, entries, P, WEB);
    assert.deepEqual(rows.map((r) => [r.revision, r.user, r.fieldManager]), [
      [1, 'system:serviceaccount:ci:deployer', 'helm'],
      [2, 'alice', 'kubectl-set'],
      [3, 'system:serviceaccount:ci:deployer', 'helm'],
    ]);
    assert.equal(rows[2]!.status, 'deployed');
    assert.match(rows[2]!.description, /^Upgrade complete/);
  });

  it('shows revisions Helm pruned, and the deletion, from the trail alone', () => {
    const history = [stored(12, 'uninstalled', 'Deployment shop/web deleted by bob (recorded by tracegate)')];
    const entries = [
      entry(1, { revision: 1, revisionBy: 'tracegate', user: 'alice', commit: 'c1', images: ['web=nginx:1.25'], changes: ['images web=nginx:1.25'], first: true }),
      ...Array.from({ length: 11 }, (_, i) => entry(i + 2, { revision: i + 2, revisionBy: 'tracegate', user: 'alice', commit: `c${i + 2}`, changes: [`image web: ${i} → ${i + 1}`] })),
      entry(13, { event: 'delete', revision: 12, revisionBy: 'tracegate', user: 'bob', changes: ['deleted by bob'] }),
    ];
    const rows = historyRows(history, entries, P, WEB);
    assert.equal(rows.length, 13);
    assert.equal(rows[0]!.status, 'pruned');
    assert.equal(rows[0]!.commit, 'c1', 'the oldest change is still attributed');
    assert.equal(rows[11]!.status, 'uninstalled', 'the last change\'s revision, as Helm shows it now');
    assert.deepEqual([rows[12]!.status, rows[12]!.user, rows[12]!.description], ['deleted', 'bob', 'deleted by bob']);
  });

  it('lists a trail-only workload (managed by Argo CD) by sequence, without revisions', () => {
    const rows = historyRows([], [entry(2, { user: 'argocd', changes: ['image web: a → b'] }), entry(1, { first: true, changes: ['images web=a'] })], P, WEB);
    assert.deepEqual(rows.map((r) => [r.revision, r.status, r.description]), [
      [undefined, 'recorded', 'images web=a'],
      [undefined, 'recorded', 'image web: a → b'],
    ]);
    assert.match(formatHistoryTable(rows), /^-\s+2026/m);
  });

  it('flags break-glass and unverified changes in the verdict column', () => {
    const rows = historyRows([], [entry(1, { verdict: 'break-glass', reason: 'INC-1', user: 'carol', changes: ['image web: a → b'] }), entry(2, { verdict: 'unverified', tool: 'kubectl-set', changes: ['image web: b → c'] })], P, WEB);
    assert.equal(rows[0]!.verdict, 'break-glass');
    assert.match(rows[0]!.description, /^BREAK-GLASS: INC-1\. image web: a → b/);
    assert.equal(rows[1]!.verdict, 'unverified');
    assert.equal(rows[1]!.user, undefined);
  });
});
