/**
 * `tracegate report` against the test API server: trails written through the recorder's own trail
 * store (validated by the install's ChangeTrail CRD), an archive, Helm release Secrets written by the
 * recorder's Secret driver, paging with a small page size, a signed export verified and a tampered one
 * refused, and a reviewer with RBAC on trails but not on Secrets.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { gzipSync } from 'node:zlib';
import { parse } from 'yaml';
import { readSigningKey } from '../../src/approval/sign.js';
import type { CliIo } from '../../src/cli/io.js';
import { createCli } from '../../src/cli/main.js';
import { createSecretDriver } from '../../src/recorder/secret-driver.js';
import { nextEntry, TRAIL_GROUP, TRAIL_PLURAL, TRAIL_VERSION, type TrailEntry, type TrailRef } from '../../src/recorder/trail.js';
import { createTrailStore } from '../../src/recorder/trail-store.js';
import { CSV_COLUMNS } from '../../src/report/export.js';
import { startTestApiServer, type TestApiServer } from '../support/api-server/index.js';

type Any = Record<string, any>;
const PREFIX = 'tracegate.io/';

let server: TestApiServer;
let dir: string;
let admin: string;
let reviewer: string;

async function kubeconfig(name: string, opts?: { user: string; groups: string[] }): Promise<string> {
  const sub = await mkdtemp(join(dir, `${name}-`));
  return server.kubeconfig(sub, opts);
}

async function cli(argv: string[], kc = admin): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t), readStdin: async () => '', env: { KUBECONFIG: kc }, cwd: dir };
  const code = await createCli()(argv, io);
  return { code, stdout, stderr };
}

type Draft = Omit<TrailEntry, 'seq' | 'first'>;

/** Appends as the recorder does: through the trail store, which builds the entry from the current head. */
async function record(store: ReturnType<typeof createTrailStore>, ref: TrailRef, tenant: string, draft: Omit<Draft, 'uid' | 'event'> & Partial<Pick<Draft, 'event'>>, release?: { name: string; namespace: string }): Promise<void> {
  const written = await store.append(ref, (head) => {
    // A distinct template per change: the same template twice is not recorded again.
    const entry = nextEntry(head?.spec, { uid: `uid-${ref.name}`, event: 'change', template: `t-${draft.time}`, ...draft });
    return entry ? { entry, opts: { apiVersion: 'apps/v1', prefix: PREFIX, tenant, ...(release ? { release } : {}) } } : undefined;
  });
  assert.ok(written, `recorded ${ref.name} at ${draft.time}`);
}

function release(version: number, status: string, at: string, image: string) {
  const manifest = `---\n# Source: web/templates/deployment.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: team-a\nspec:\n  template:\n    spec:\n      containers:\n      - name: web\n        image: ${image}\n`;
  return { name: 'web', namespace: 'team-a', version, info: { first_deployed: '2026-09-01T00:00:00Z', last_deployed: at, status, description: version === 1 ? 'Install complete' : 'Upgrade complete' }, chart: { metadata: { name: 'web', version: '0.1.0' } }, config: {}, manifest };
}

before(async () => {
  server = await startTestApiServer({ authorization: 'rbac' });
  dir = await mkdtemp(join(tmpdir(), 'tracegate-report-test-'));
  server.store.put(parse(await readFile(fileURLToPath(new URL('../../manifests/crds/changetrail.yaml', import.meta.url)), 'utf8')) as Any);
  for (const [ns, tenant] of [['team-a', 'team-a'], ['team-a-stage', 'team-a'], ['team-b', 'team-b']]) server.store.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels: { [`${PREFIX}tenant`]: tenant } } });
  // A compliance reviewer of team-a: may read trails in team-a, not its Secrets (no `helm history`).
  server.store.put({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'trail-reader', namespace: 'team-a' }, rules: [{ apiGroups: ['tracegate.io'], resources: ['changetrails'], verbs: ['get', 'list'] }] });
  server.store.put({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'reviewer', namespace: 'team-a' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'trail-reader' }, subjects: [{ kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: 'rita' }] });
  admin = await kubeconfig('admin');
  reviewer = await kubeconfig('rita', { user: 'rita', groups: [] });

  const kc = new KubeConfig();
  kc.loadFromFile(admin);
  const objects = kc.makeApiClient(CustomObjectsApi);
  const store = createTrailStore({ api: objects, prefix: PREFIX });
  const helm = createSecretDriver({ core: kc.makeApiClient(CoreV1Api) });
  await helm.create(release(1, 'superseded', '2026-09-01T00:00:00Z', 'nginx:1.0') as never, {});
  await helm.create(release(2, 'deployed', '2026-10-02T00:00:00Z', 'nginx:1.1') as never, {});

  const rel = { name: 'web', namespace: 'team-a' };
  const web = { namespace: 'team-a', kind: 'Deployment', name: 'web' };
  // An archive of web's older entries, as appendEntry seals one (500 entries are too many for a test).
  await objects.createNamespacedCustomObject({
    group: TRAIL_GROUP,
    version: TRAIL_VERSION,
    plural: TRAIL_PLURAL,
    namespace: 'team-a',
    body: {
      apiVersion: `${TRAIL_GROUP}/${TRAIL_VERSION}`,
      kind: 'ChangeTrail',
      metadata: { name: 'deployment-archive.test.1', namespace: 'team-a', labels: { [`${PREFIX}tenant`]: 'team-a' } },
      spec: { workload: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }, sealed: true, entries: [{ seq: 1, time: '2026-09-20T00:00:00Z', event: 'change', uid: 'uid-web', verdict: 'verified', images: ['web=nginx:0.9'], changes: ['images web=nginx:0.9'], first: true }] },
    },
  });
  await record(store, web, 'team-a', { time: '2026-10-02T00:00:01Z', verdict: 'verified', revision: 2, revisionBy: 'helm', user: 'ci-bot', tool: 'helm', commit: 'c0ffee', approver: 'bob', changeId: 'ch-2', images: ['web=nginx:1.1'], changes: ['image web: nginx:0.9 → nginx:1.1'] }, rel);
  const head = (await store.head(web))!;
  await objects.replaceNamespacedCustomObject({ group: TRAIL_GROUP, version: TRAIL_VERSION, plural: TRAIL_PLURAL, namespace: 'team-a', name: head.metadata.name, body: { ...head, spec: { ...head.spec, archives: ['deployment-archive.test.1'], entries: head.spec.entries.map((e) => ({ ...e, seq: 2, first: undefined })) } } });
  await record(store, web, 'team-a', { time: '2026-10-10T12:00:00Z', verdict: 'break-glass', user: 'oncall', tool: 'kubectl-set', reason: 'INC-42 checkout down (past the gate; NOT a recorded revision)', images: ['web=nginx:1.2-hotfix'], changes: ['image web: nginx:1.1 → nginx:1.2-hotfix'] }, rel);
  await record(store, web, 'team-a', { time: '2026-10-11T09:00:00Z', verdict: 'unverified', user: 'mallory', tool: 'kubectl-edit', images: ['web=nginx:1.2-hotfix', 'debug=busybox'], changes: ['=cmd|\' /C calc\'!A0'] }, rel);
  for (let i = 0; i < 5; i++) {
    await record(store, { namespace: i % 2 ? 'team-a-stage' : 'team-a', kind: 'Deployment', name: `svc${i}` }, 'team-a', { time: `2026-10-0${i + 3}T00:00:00Z`, verdict: 'verified', user: 'ci-bot', images: [`app=registry.example/svc${i}:1`], changes: [`images app=registry.example/svc${i}:1`] });
  }
  await record(store, { namespace: 'team-b', kind: 'Deployment', name: 'other' }, 'team-b', { time: '2026-10-05T00:00:00Z', verdict: 'verified', images: ['app=b:1'], changes: ['images app=b:1'] });
});

after(async () => {
  await server?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('tracegate report', () => {
  it('exports a tenant\'s period as CSV through pages of one object, with Helm\'s statuses and the archive\'s images', async () => {
    const before = server.requests.length;
    const res = await cli(['report', '--tenant', 'team-a', '--since', '2026-10-01', '--until', '2026-11-01', '--page-size', '1', '--kubeconfig', admin]);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stderr, /^sha256:[0-9a-f]{64}\n$/);
    const lines = res.stdout.split('\r\n');
    assert.equal(lines[0], CSV_COLUMNS.join(','));
    assert.equal(lines.at(-1), '', 'every record ends with CRLF');
    const body = lines.slice(1, -1);
    assert.equal(body.length, 8, body.join('\n'));
    assert.ok(body.every((l) => !l.includes('team-b')), 'team-b\'s trail is not in team-a\'s export');
    const web = body.filter((l) => l.includes(',web,'));
    assert.match(web[0]!, /^2026-10-02T00:00:01Z,team-a,team-a,Deployment,web,2,deployed,verified,ci-bot,helm,c0ffee,bob,,ch-2,,web=nginx:0\.9,web=nginx:1\.1,/);
    assert.match(web[1]!, /,recorded,break-glass,oncall,kubectl-set,.*INC-42 checkout down/);
    assert.match(web[2]!, /,unverified,mallory,kubectl-edit,.*,'=cmd\|' \/C calc'!A0,$/, 'the formula is neutralised');
    const lists = server.requests.slice(before).filter((r) => r.method === 'GET' && r.path.endsWith('/changetrails'));
    assert.ok(lists.length >= 7, `paged (${lists.length} list requests)`);
    assert.ok(lists.every((r) => r.query['limit'] === '1' && r.query['labelSelector'] === 'tracegate.io/tenant=team-a'));
    assert.ok(lists.some((r) => r.query['continue']));
  });

  it('signs a JSON export that verify accepts, and refuses it once edited', async () => {
    const pair = generateKeyPairSync('ed25519');
    await writeFile(join(dir, 'auditor.pem'), pair.privateKey.export({ format: 'pem', type: 'pkcs8' }));
    const key = await readSigningKey(pair.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), 'auditor.pem', 'audit-2026');
    await writeFile(join(dir, 'auditors.jwks.json'), JSON.stringify({ keys: [key.publicJwk] }));
    const res = await cli(['report', '--tenant', 'team-a', '-n', 'team-a', '--since', '2026-10-10T00:00:00Z', '-o', 'json', '--out', 'a.json', '--sign-key', 'auditor.pem', '--kid', 'audit-2026', '--digest-out', 'a.json.digest']);
    assert.equal(res.code, 0, res.stderr);
    assert.equal(res.stdout, '');
    const doc = JSON.parse(await readFile(join(dir, 'a.json'), 'utf8')) as Any;
    assert.deepEqual([doc['tenant'], doc['namespaces'], doc['since'], doc['until'], doc['truncated']], ['team-a', ['team-a'], '2026-10-10T00:00:00.000Z', null, false]);
    assert.deepEqual(doc['rows'].map((r: Any) => r['verdict']), ['break-glass', 'unverified']);
    assert.deepEqual(doc['rows'][1]['imagesBefore'], ['web=nginx:1.2-hotfix']);
    const digest = JSON.parse(await readFile(join(dir, 'a.json.digest'), 'utf8')) as Any;
    assert.equal(digest['kid'], 'audit-2026');
    assert.equal(digest['rows'], 2);

    const ok = await cli(['report', 'verify', 'a.json', '--digest', 'a.json.digest', '--jwks', 'auditors.jwks.json']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /^verified: json export of tenant team-a, namespaces team-a, 2026-10-10T00:00:00.000Z to .*, 2 rows, .*signed by key audit-2026/);

    await writeFile(join(dir, 'a.json'), (await readFile(join(dir, 'a.json'), 'utf8')).replace('mallory', 'someone'));
    const bad = await cli(['report', 'verify', 'a.json', '--digest', 'a.json.digest', '--jwks', 'auditors.jwks.json']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /not verified: .*the export was changed/);
  });

  it('cuts at --limit and names where the next part starts', async () => {
    const res = await cli(['report', '--tenant', 'team-a', '--since', '2026-10-01', '--limit', '3', '-o', 'json']);
    assert.equal(res.code, 0, res.stderr);
    const doc = JSON.parse(res.stdout) as Any;
    assert.equal(doc['rows'].length, 3);
    assert.equal(doc['truncated'], true);
    assert.equal(doc['nextSince'], '2026-10-05T00:00:00Z');
    assert.match(res.stderr, /cut at 3 rows; export the rest with --since 2026-10-05T00:00:00Z/);
  });

  it('serves a reviewer who may read trails but not Secrets, and refuses what RBAC does not allow', async () => {
    const res = await cli(['report', '--tenant', 'team-a', '-n', 'team-a', '--since', '2026-10-01', '-o', 'json'], reviewer);
    assert.equal(res.code, 0, res.stderr);
    const rows = (JSON.parse(res.stdout) as Any)['rows'] as Any[];
    assert.deepEqual(rows.filter((r) => r['name'] === 'web').map((r) => r['status']), ['recorded', 'recorded', 'recorded'], 'no Helm statuses without Secret access');
    const denied = await cli(['report', '--all-tenants'], reviewer);
    assert.equal(denied.code, 1);
    assert.match(denied.stderr, /list ChangeTrails failed \(HTTP 403\)/);
  });

  // Regression (security review, finding 2): release Secrets a tenant writes may be gzip bombs.
  it('refuses release records past the read budget with one line, and exports with --trail-only', async () => {
    server.store.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-c', labels: { [`${PREFIX}tenant`]: 'team-c' } } });
    const kc = new KubeConfig();
    kc.loadFromFile(admin);
    const core = kc.makeApiClient(CoreV1Api);
    for (let v = 1; v <= 5; v++) {
      // 7 MiB of JSON each (under the 8 MiB record cap), ~7 KB compressed: 35 MiB together.
      const rel = { ...release(v, v === 5 ? 'deployed' : 'superseded', '2026-10-01T00:00:00Z', 'nginx:1'), name: 'bomb', namespace: 'team-c', manifest: 'a'.repeat(7 * 1024 * 1024) };
      const data = Buffer.from(gzipSync(JSON.stringify(rel)).toString('base64')).toString('base64');
      await core.createNamespacedSecret({ namespace: 'team-c', body: { metadata: { name: `sh.helm.release.v1.bomb.v${v}`, labels: { name: 'bomb', owner: 'helm', version: String(v), status: 'superseded' } }, type: 'helm.sh/release.v1', data: { release: data } } });
    }
    const store = createTrailStore({ api: kc.makeApiClient(CustomObjectsApi), prefix: PREFIX });
    await record(store, { namespace: 'team-c', kind: 'Deployment', name: 'bomb' }, 'team-c', { time: '2026-10-05T00:00:00Z', verdict: 'verified', revision: 5, images: ['app=c:1'], changes: ['images app=c:1'] }, { name: 'bomb', namespace: 'team-c' });
    const res = await cli(['report', '-n', 'team-c', '--since', '2026-10-01']);
    assert.equal(res.code, 1);
    assert.equal(res.stdout, '');
    assert.match(res.stderr, /^tracegate report: the release records of team-c\/bomb inflate to more than 33554432 bytes[^\n]*\n$/);
    const trailOnly = await cli(['report', '-n', 'team-c', '--since', '2026-10-01', '--trail-only']);
    assert.equal(trailOnly.code, 0, trailOnly.stderr);
    assert.match(trailOnly.stdout, /team-c,Deployment,bomb,5,recorded/);
  });

  it('refuses usage errors before any request', async () => {
    assert.equal((await cli(['report'])).code, 2);
    assert.equal((await cli(['report', '--tenant', 'a', '--since', 'yesterday'])).code, 2);
    assert.equal((await cli(['report', '--tenant', 'a', '--since', '2026-10-02', '--until', '2026-10-01'])).code, 2);
    assert.equal((await cli(['report', '--tenant', 'a', '-o', 'xml'])).code, 2);
  });
});
