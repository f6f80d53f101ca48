import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { StoredRelease } from '../../src/recorder/storage.js';
import type { TrailEntry, TrailObject } from '../../src/recorder/trail.js';
import { changeRowsOf, createChangeSource, MAX_ROWS, type TrailReadApi } from '../../src/report/query.js';
import { matchingRows, selectRows, type ChangeRow } from '../../src/report/rows.js';

const P = 'tracegate.io/';

function entry(seq: number, time: string, over: Partial<TrailEntry> = {}): TrailEntry {
  return { seq, time, event: 'change', uid: 'u1', verdict: 'verified', template: `t${seq}`, images: [`web=nginx:1.${seq}`], changes: [`image web: nginx:1.${seq - 1} → nginx:1.${seq}`], ...over };
}

function trail(ns: string, name: string, entries: TrailEntry[], opts: { tenant?: string; archives?: string[]; sealed?: boolean; objName?: string; release?: { name: string; namespace: string } } = {}): TrailObject {
  return {
    apiVersion: 'tracegate.io/v1alpha1',
    kind: 'ChangeTrail',
    metadata: { name: opts.objName ?? `deployment.${name}`, namespace: ns, labels: { [`${P}trail-key`]: `k-${name}`, ...(opts.tenant ? { [`${P}tenant`]: opts.tenant } : {}) } },
    spec: {
      workload: { apiVersion: 'apps/v1', kind: 'Deployment', name },
      ...(opts.archives ? { archives: opts.archives } : {}),
      ...(opts.sealed ? { sealed: true } : {}),
      ...(opts.release ? { release: opts.release } : {}),
      entries,
    },
  };
}

const d = (s: string) => new Date(s);

describe('changeRowsOf', () => {
  const archive = trail('team-a', 'web', [entry(1, '2026-09-01T10:00:00Z', { first: true, changes: ['images web=nginx:1.1'] }), entry(2, '2026-09-15T10:00:00Z')], { tenant: 'team-a', sealed: true, objName: 'deployment-archive.k-web.1' });
  const head = trail(
    'team-a',
    'web',
    [
      entry(3, '2026-10-01T00:00:00Z', { verdict: 'unverified', tool: 'kubectl-set', user: 'alice', changes: ['image web: nginx:1.2 → nginx:1.3'] }),
      entry(4, '2026-10-20T08:00:00Z', { verdict: 'break-glass', user: 'oncall', reason: 'prod is down (past the gate; NOT a recorded revision)', commit: 'abc123', approver: 'bob', pipelineRun: 'run-7', changeId: 'c-4', rollout: 'complete' }),
      { seq: 5, time: '2026-11-01T00:00:00Z', event: 'delete', uid: 'u1', verdict: 'verified', user: 'carol', changes: ['deleted by carol'] },
    ],
    { tenant: 'team-a', archives: ['deployment-archive.k-web.1'] },
  );
  const other = trail('team-b', 'api', [entry(1, '2026-10-05T00:00:00Z', { uid: 'u9', tenant: 'team-b' })], { tenant: 'team-b' });

  it('reads heads and archives as one trail: images before come from the entry before, in any object', () => {
    const rows = changeRowsOf([head, other, archive], { tenant: 'team-a' });
    assert.deepEqual(rows.map((r) => [r.time, r.status, r.verdict]), [
      ['2026-09-01T10:00:00Z', 'recorded', 'verified'],
      ['2026-09-15T10:00:00Z', 'recorded', 'verified'],
      ['2026-10-01T00:00:00Z', 'recorded', 'unverified'],
      ['2026-10-20T08:00:00Z', 'recorded', 'break-glass'],
      ['2026-11-01T00:00:00Z', 'deleted', 'verified'],
    ]);
    assert.deepEqual(rows[0]!.imagesBefore, []);
    assert.deepEqual(rows[2]!.imagesBefore, ['web=nginx:1.2'], 'the head\'s first row takes "before" from the archive');
    assert.deepEqual(rows[2]!.imagesAfter, ['web=nginx:1.3']);
    assert.deepEqual(rows[4]!.imagesBefore, ['web=nginx:1.4']);
    assert.deepEqual(rows[4]!.imagesAfter, [], 'nothing runs after a deletion');
    assert.ok(rows.every((r) => r.tenant === 'team-a' && r.namespace === 'team-a' && r.kind === 'Deployment' && r.name === 'web'));
  });

  it('keeps the break-glass and unverified attribution as recorded', () => {
    const rows = changeRowsOf([head, archive], {});
    const bg = rows.find((r) => r.verdict === 'break-glass')!;
    assert.deepEqual(
      { user: bg.user, reason: bg.reason, commit: bg.commit, approver: bg.approver, pipelineRun: bg.pipelineRun, changeId: bg.changeId, rollout: bg.rollout },
      { user: 'oncall', reason: 'prod is down (past the gate; NOT a recorded revision)', commit: 'abc123', approver: 'bob', pipelineRun: 'run-7', changeId: 'c-4', rollout: 'complete' },
    );
    const unv = rows.find((r) => r.verdict === 'unverified')!;
    assert.equal(unv.fieldManager, 'kubectl-set');
    assert.deepEqual(unv.changes, ['image web: nginx:1.2 → nginx:1.3']);
  });

  it('filters by the period [since, until): since is inclusive, until exclusive', () => {
    const rows = changeRowsOf([head, archive], { since: d('2026-10-01T00:00:00Z'), until: d('2026-11-01T00:00:00Z') });
    assert.deepEqual(rows.map((r) => r.time), ['2026-10-01T00:00:00Z', '2026-10-20T08:00:00Z']);
    assert.deepEqual(rows[0]!.imagesBefore, ['web=nginx:1.2'], 'the entry before the period still gives "before"');
  });

  it('filters by tenant (the trail\'s label, else its newest entry) and by namespace', () => {
    assert.deepEqual(changeRowsOf([head, archive, other], { tenant: 'team-b' }).map((r) => r.name), ['api']);
    assert.deepEqual(changeRowsOf([head, archive, other], { namespaces: ['team-b'] }).map((r) => r.name), ['api']);
    assert.deepEqual(changeRowsOf([head, archive, other], { tenant: 'team-a', namespaces: ['team-b'] }), []);
    const unlabelled = trail('ns-x', 'job', [entry(1, '2026-10-02T00:00:00Z', { uid: 'u5', tenant: 'Team A!' })]);
    assert.deepEqual(changeRowsOf([unlabelled], { tenant: 'Team A!' }).map((r) => r.tenant), ['Team A!']);
  });

  it('sorts across workloads by time and reads an archive entry the head still holds once', () => {
    const orphan = trail('team-a', 'web', [entry(3, '2026-10-01T00:00:00Z')], { sealed: true, objName: 'deployment-archive.k-web.2' });
    const rows = changeRowsOf([other, head, archive, orphan], { since: d('2026-10-01T00:00:00Z'), until: d('2026-10-31T00:00:00Z') });
    assert.deepEqual(rows.map((r) => `${r.name}@${r.time}`), ['web@2026-10-01T00:00:00Z', 'api@2026-10-05T00:00:00Z', 'web@2026-10-20T08:00:00Z']);
  });

  it('caps rows at the limit, never above MAX_ROWS', () => {
    assert.equal(changeRowsOf([head, archive], { limit: 2 }).length, 2);
    assert.equal(changeRowsOf([head, archive], { limit: MAX_ROWS * 10 }).length, 5);
  });
});

describe('selectRows', () => {
  const row = (time: string): ChangeRow => ({ time, namespace: 'n', kind: 'Deployment', name: 'w', status: 'recorded', imagesBefore: [], imagesAfter: [], changes: [] });
  it('cuts before the instant the cap falls in, so the next part starts exactly there', () => {
    const rows = ['2026-10-01T00:00:00Z', '2026-10-02T00:00:00Z', '2026-10-03T00:00:00Z', '2026-10-03T00:00:00Z'].map(row);
    assert.deepEqual(selectRows(rows, 3), { rows: rows.slice(0, 2), truncated: true, nextSince: '2026-10-03T00:00:00Z' });
    assert.deepEqual(selectRows(rows, 4), { rows, truncated: false });
  });
});

describe('the Helm join', () => {
  const manifest = (image: string) => `---\n# Source: web/templates/d.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n      - name: web\n        image: ${image}\n`;
  const stored = (version: number, status: string, at: string, image: string): StoredRelease => ({
    release: { name: 'web', version, namespace: 'team-a', info: { status, last_deployed: at, description: version === 1 ? 'Install complete' : 'Upgrade complete' } as never, manifest: manifest(image), chart: { metadata: { name: 'web', version: '1.0.0' } } as never },
    labels: {},
  });
  const history = [stored(1, 'superseded', '2026-09-01T00:00:00Z', 'nginx:1.0'), stored(2, 'superseded', '2026-10-02T00:00:00Z', 'nginx:1.1'), stored(3, 'deployed', '2026-10-03T00:00:00Z', 'nginx:1.2')];
  const head = trail('team-a', 'web', [entry(1, '2026-10-02T00:00:05Z', { revision: 2, first: true }), entry(2, '2026-10-03T00:00:05Z', { revision: 3 })], { tenant: 'team-a', release: { name: 'web', namespace: 'team-a' } });

  it('takes Helm\'s status for recorded revisions and adds the revisions before tracegate saw the workload', () => {
    const rows = matchingRows([head], {}, { helm: new Map([['team-a/web', history]]) });
    assert.deepEqual(rows.map((r) => [r.revision, r.status, r.verdict ?? '-']), [[1, 'superseded', '-'], [2, 'superseded', 'verified'], [3, 'deployed', 'verified']]);
    assert.deepEqual(rows[0]!.imagesAfter, ['web=nginx:1.0']);
    assert.deepEqual(rows[0]!.changes, ['Install complete']);
  });

  it('says pruned when Helm no longer holds the revision, recorded when Helm was not read', () => {
    assert.deepEqual(matchingRows([head], {}, { helm: new Map([['team-a/web', history.slice(2)]]) }).map((r) => r.status), ['pruned', 'deployed']);
    assert.deepEqual(matchingRows([head], {}).map((r) => r.status), ['recorded', 'recorded']);
  });
});

describe('createChangeSource', () => {
  /** An API fake that pages like kube-apiserver (limit/continue) and records the calls. */
  function fakeApi(objects: TrailObject[]) {
    const calls: string[] = [];
    const page = (items: TrailObject[], p: { limit?: number; _continue?: string; labelSelector?: string }) => {
      const sel = p.labelSelector?.split('=');
      const matching = sel ? items.filter((o) => o.metadata.labels[sel[0]!] === sel[1]) : items;
      const start = Number(p._continue ?? 0);
      const end = p.limit ? start + p.limit : matching.length;
      return { items: matching.slice(start, end), metadata: end < matching.length ? { continue: String(end) } : {} };
    };
    const api = {
      async listClusterCustomObject(p: { limit?: number; _continue?: string; labelSelector?: string }) {
        calls.push(`list * ${p.labelSelector ?? ''} ${p._continue ?? ''}`);
        return page(objects, p);
      },
      async listNamespacedCustomObject(p: { namespace: string; limit?: number; _continue?: string }) {
        calls.push(`list ${p.namespace} ${p._continue ?? ''}`);
        return page(objects.filter((o) => o.metadata.namespace === p.namespace), p);
      },
      async getNamespacedCustomObject(p: { namespace: string; name: string }) {
        calls.push(`get ${p.name}`);
        const o = objects.find((x) => x.metadata.namespace === p.namespace && x.metadata.name === p.name);
        if (!o) throw Object.assign(new Error('not found'), { code: 404 });
        return o;
      },
    };
    return { api: api as unknown as TrailReadApi, calls };
  }

  const workloads = Array.from({ length: 7 }, (_, i) => trail('team-a', `w${i}`, [entry(1, `2026-10-0${i + 1}T00:00:00Z`, { uid: `u${i}` })], { tenant: 'team-a' }));
  const arch = trail('team-a', 'big', [entry(1, '2026-08-01T00:00:00Z', { uid: 'ub' }), entry(2, '2026-09-01T00:00:00Z', { uid: 'ub' })], { tenant: 'team-a', sealed: true, objName: 'deployment-archive.k-big.1' });
  const big = trail('team-a', 'big', [entry(3, '2026-10-15T00:00:00Z', { uid: 'ub' })], { tenant: 'team-a', archives: ['deployment-archive.k-big.1'] });
  const foreign = trail('team-b', 'x', [entry(1, '2026-10-01T00:00:00Z', { uid: 'ux' })], { tenant: 'team-b' });

  it('pages through every trail with a small page size, reads archives through their head, selects the tenant by label', async () => {
    const { api, calls } = fakeApi([...workloads, arch, big, foreign]);
    const source = createChangeSource({ trails: api, prefix: P, pageSize: 3 });
    const rows = await source.changes({ tenant: 'team-a', since: d('2026-09-01T00:00:00Z') });
    assert.deepEqual(rows.map((r) => r.name), ['big', 'w0', 'w1', 'w2', 'w3', 'w4', 'w5', 'w6', 'big']);
    assert.deepEqual(rows[0]!.imagesBefore, ['web=nginx:1.1']);
    assert.equal(calls.filter((c) => c.startsWith('list * tracegate.io/tenant=team-a')).length, 3, '9 objects in pages of 3');
    assert.deepEqual(calls.filter((c) => c.startsWith('get')), ['get deployment-archive.k-big.1']);
  });

  it('does not read archives that end before the period', async () => {
    const { api, calls } = fakeApi([arch, big]);
    const rows = await createChangeSource({ trails: api, prefix: P }).changes({ since: d('2026-10-01T00:00:00Z') });
    assert.deepEqual(rows.map((r) => r.time), ['2026-10-15T00:00:00Z']);
    assert.deepEqual(rows[0]!.imagesBefore, ['web=nginx:1.2'], 'the archive holding the entry before the period is read');
    const headOnly = trail('team-a', 'big', [entry(2, '2026-09-01T00:00:00Z', { uid: 'ub' }), entry(3, '2026-10-15T00:00:00Z', { uid: 'ub' })], { archives: ['deployment-archive.k-big.1'] });
    const second = fakeApi([arch, headOnly]);
    await createChangeSource({ trails: second.api, prefix: P }).changes({ since: d('2026-10-01T00:00:00Z') });
    assert.deepEqual(second.calls.filter((c) => c.startsWith('get')), [], 'the head starts before the period: no archive needed');
    assert.deepEqual(calls.filter((c) => c.startsWith('get')), ['get deployment-archive.k-big.1']);
  });

  it('lists namespace by namespace when given, and says when the cap cut', async () => {
    const { api, calls } = fakeApi([...workloads, foreign]);
    const result = await createChangeSource({ trails: api, prefix: P, pageSize: 2 }).query({ namespaces: ['team-a', 'team-b'], limit: 4 });
    assert.deepEqual(result.rows.map((r) => r.name), ['w0', 'x', 'w1', 'w2']);
    assert.equal(result.truncated, true);
    assert.equal(result.nextSince, '2026-10-04T00:00:00Z');
    assert.ok(calls.some((c) => c.startsWith('list team-b')));
  });

  it('answers no rows when the ChangeTrail resource is not served', async () => {
    const api = { listClusterCustomObject: async () => Promise.reject(Object.assign(new Error('nf'), { code: 404 })) } as unknown as TrailReadApi;
    assert.deepEqual(await createChangeSource({ trails: api }).query({}), { rows: [], truncated: false });
  });
});

describe('security review regressions (report rows)', () => {
  const manifest = (ns: string | undefined, name: string, image: string) =>
    `---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: ${name}\n${ns ? `  namespace: ${ns}\n` : ''}spec:\n  template:\n    spec:\n      containers:\n      - name: app\n        image: ${image}\n`;
  const stored = (namespace: string, name: string, version: number, m: string): StoredRelease => ({
    release: { name, namespace, version, manifest: m, info: { status: 'deployed', last_deployed: '2026-09-01T00:00:00Z', description: 'Install complete' }, chart: { metadata: { name, version: '1' } } } as never,
    labels: {},
  });

  // Finding 1: a tenant's annotation pointed their workload's release at team-b; trails already
  // written with that spec.release must still never join team-b's records.
  it("never joins a release in another namespace into a trail's rows, nor reads it", async () => {
    const head = trail('team-a', 'payments', [entry(1, '2026-10-01T00:00:00Z')], { tenant: 'team-a', release: { name: 'payments', namespace: 'team-b' } });
    const helm = new Map([['team-b/payments', [stored('team-b', 'payments', 1, manifest(undefined, 'payments', 'registry.example.com/team-b/payments:9.9-internal'))]]]);
    const rows = matchingRows([head], {}, { prefix: P, helm });
    assert.deepEqual(rows.map((r) => [r.status, r.imagesAfter.join()]), [['recorded', 'web=nginx:1.1']]);
    const asked: string[] = [];
    const source = createChangeSource({ trails: { listClusterCustomObject: async () => ({ items: [head] }) } as unknown as TrailReadApi, prefix: P, releases: async (ns, name) => (asked.push(`${ns}/${name}`), helm.get(`${ns}/${name}`)) });
    const read = await source.changes({});
    assert.deepEqual(asked, [], 'team-b is never read');
    assert.doesNotMatch(JSON.stringify(read), /team-b|9\.9-internal/);
  });

  it("takes a Helm-only revision's images only from a document of the workload's namespace", () => {
    const head = trail('team-a', 'web', [entry(1, '2026-10-01T00:00:00Z', { revision: 2 })], { tenant: 'team-a', release: { name: 'web', namespace: 'team-a' } });
    const helm = new Map([['team-a/web', [stored('team-a', 'web', 1, manifest('team-b', 'web', 'evil:1')), stored('team-a', 'web', 2, manifest(undefined, 'web', 'nginx:1.1'))]]]);
    const rows = matchingRows([head], {}, { prefix: P, helm });
    assert.doesNotMatch(JSON.stringify(rows), /evil:1/);
  });

  // Finding 6: the view joins Helm's records only where the user may get secrets.
  it('joins Helm records only in helmNamespaces when given', async () => {
    const a = trail('team-a', 'web', [entry(1, '2026-10-01T00:00:00Z', { revision: 1 })], { release: { name: 'web', namespace: 'team-a' } });
    const b = trail('team-a2', 'web', [entry(1, '2026-10-01T00:00:00Z', { revision: 1 })], { release: { name: 'web', namespace: 'team-a2' } });
    const asked: string[] = [];
    const source = createChangeSource({
      trails: { listNamespacedCustomObject: async (p: { namespace: string }) => ({ items: [a, b].filter((t) => t.metadata.namespace === p.namespace) }) } as unknown as TrailReadApi,
      prefix: P,
      releases: async (ns, name) => (asked.push(`${ns}/${name}`), [stored(ns, name, 1, manifest(undefined, 'web', 'nginx:1.1'))]),
    });
    const rows = await source.changes({ namespaces: ['team-a', 'team-a2'], helmNamespaces: ['team-a2'] });
    assert.deepEqual(asked, ['team-a2/web']);
    assert.deepEqual(rows.map((r) => `${r.namespace}:${r.status}`).sort(), ['team-a2:deployed', 'team-a:recorded']);
  });

  // Finding 2: release histories are not all kept until the query ends.
  it('reuses a release read for the next trails but keeps only a couple of histories', async () => {
    const heads = ['r1', 'r1', 'r2', 'r3', 'r1'].map((rel, i) => trail('team-a', `w${i}`, [entry(1, '2026-10-01T00:00:00Z', { uid: `u${i}` })], { release: { name: rel, namespace: 'team-a' } }));
    const asked: string[] = [];
    const source = createChangeSource({
      trails: { listClusterCustomObject: async () => ({ items: heads }) } as unknown as TrailReadApi,
      prefix: P,
      releases: async (ns, name) => (asked.push(name), []),
    });
    await source.changes({});
    assert.deepEqual(asked, ['r1', 'r2', 'r3', 'r1'], 'r1 read once for two neighbours, again after two others');
  });

  // Finding 9: many trails past the cap keep the same earliest rows as one full sort would.
  it('keeps exactly the earliest rows across many trails once the cap is reached', async () => {
    const heads = Array.from({ length: 300 }, (_, i) =>
      trail('team-a', `w${i}`, Array.from({ length: 10 }, (_, k) => entry(k + 1, new Date(Date.UTC(2026, 9, 1) + ((i * 7919 + k * 104729) % 5000) * 1000).toISOString(), { uid: `u${i}` })), { tenant: 'team-a' }),
    );
    const source = createChangeSource({ trails: { listClusterCustomObject: async () => ({ items: heads }) } as unknown as TrailReadApi, prefix: P });
    const got = await source.query({ limit: 1000 });
    const expected = selectRows(matchingRows(heads, {}, { prefix: P }), 1000);
    assert.deepEqual(got, expected);
    assert.equal(got.truncated, true);
  });
});
