/** The operator's history view: Helm's own revisions show the provenance their manifests carried. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatHistoryTable, historyRows } from '../../src/recorder/history.js';
import type { StoredRelease } from '../../src/recorder/storage.js';

const manifest = (commit: string) =>
  `---\n# Source: web/templates/deployment.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  annotations:\n    ci/commit: "${commit}"\n    approvedBy: carol\nspec:\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n        - name: web\n          image: nginx:1.25\n`;

function stored(version: number, status: string, description: string, labels: Record<string, string> = {}): StoredRelease {
  return {
    release: { name: 'web', version, namespace: 'shop', manifest: manifest(`sha${version}`), info: { status, description, last_deployed: '2026-11-22T10:00:00.123456789Z' }, chart: { metadata: { name: 'web', version: '0.1.0' } } },
    labels,
  };
}

describe('historyRows', () => {
  const history = [
    stored(2, 'failed', 'Rollback "web" failed: conflict occurred\nwith kubectl-set'),
    stored(1, 'superseded', 'Install complete'),
    stored(3, 'deployed', 'image web: nginx:1.25 → nginx:1.26 (recorded)', { 'tracegate.io/recorded-by': 'tracegate', 'tracegate.io/commit': 'c0ffee1', 'tracegate.io/verified': 'true', 'tracegate.io/changed-by': 'alice' }),
  ];

  it('orders by revision, takes Helm revisions provenance from their manifests, tracegate ones from labels', () => {
    const rows = historyRows(history, 'tracegate.io/', { kind: 'Deployment', name: 'web' });
    assert.deepEqual(rows.map((r) => r.revision), [1, 2, 3]);
    assert.equal(rows[0]!.commit, 'sha1');
    assert.equal(rows[0]!.approver, 'carol');
    assert.equal(rows[2]!.commit, 'c0ffee1', 'a recorded revision uses its labels, not the manifest');
    assert.equal(rows[2]!.approver, undefined);
    assert.equal(rows[2]!.user, 'alice');
    assert.equal(rows[2]!.verified, true);
    assert.equal(rows[0]!.chart, 'web-0.1.0');
  });

  it('keeps one line per revision in the table, even for a multi-line failure reason', () => {
    const table = formatHistoryTable(historyRows(history, 'tracegate.io/', { kind: 'Deployment', name: 'web' }));
    const lines = table.trimEnd().split('\n');
    assert.equal(lines.length, 4);
    assert.match(lines[2]!, /^2 .* failed .*Rollback "web" failed: conflict occurred with kubectl-set$/);
    assert.match(lines[1]!, /2026-11-22T10:00:00Z/, 'nanoseconds trimmed');
  });
});
