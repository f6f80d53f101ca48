import assert from 'node:assert/strict';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import type { ChangeQuery, ChangeRow, Exporter, WorkloadKey } from '../../src/ui/data.js';
import { CONTENT_SECURITY_POLICY } from '../../src/ui/http.js';
import type { Permission, Reviewer, UserIdentity } from '../../src/ui/reviews.js';
import { createUiServer } from '../../src/ui/server.js';
import { createSessionStore } from '../../src/ui/sessions.js';

const TOKENS: Record<string, UserIdentity> = {
  'alice-token': { username: 'alice', groups: ['team-a', 'system:authenticated'] },
  'auditor-token': { username: 'carol', groups: ['auditors', 'system:authenticated'] },
  'viewer-token': { username: 'vic', groups: ['team-a-viewers'] },
};

/** RBAC as the fake cluster has it: alice lists trails and gets secrets in team-a; vic only lists trails there; auditors everything. */
function allowedBy(user: UserIdentity, p: Permission): boolean {
  if (user.groups.includes('auditors')) return p.verb === 'list' || p.verb === 'get';
  const ns = p.namespace;
  if (user.username === 'alice') return ns === 'team-a' && ((p.resource === 'changetrails' && p.verb === 'list') || (p.resource === 'secrets' && p.verb === 'get'));
  if (user.username === 'vic') return ns === 'team-a' && p.resource === 'changetrails' && p.verb === 'list';
  return false;
}

const HOSTILE = '<script>alert("x")</script>';
const ROWS: ChangeRow[] = [
  { time: new Date(Date.now() - 3600_000).toISOString(), namespace: 'team-a', kind: 'Deployment', name: 'web', revision: 2, status: 'deployed', verdict: 'break-glass', reason: HOSTILE, user: 'oncall', imagesBefore: ['web=reg/web:1'], imagesAfter: ['web=reg/web:2'], changes: [] },
  { time: new Date(Date.now() - 7200_000).toISOString(), namespace: 'team-b', kind: 'Deployment', name: 'api', status: 'deployed', verdict: 'verified', user: 'bob', imagesBefore: [], imagesAfter: ['api=reg/api:1'], changes: [] },
];

let revoked = new Set<string>();
let clock = 0;
const calls = { authenticate: 0, allowed: 0, queries: [] as ChangeQuery[] };
const reviewer: Reviewer = {
  async authenticate(token) {
    calls.authenticate++;
    return revoked.has(token) ? undefined : TOKENS[token];
  },
  async allowed(user, p) {
    calls.allowed++;
    return allowedBy(user, p);
  },
};
const exporter: Exporter = {
  csv: (rows) => rows.map((r) => `${r.namespace},${r.name}`).join('\n'),
  json: (meta, rows) => JSON.stringify({ meta, rows }),
  digest: (bytes) => `sha256:len${bytes.length}`,
};

let server: Server;
let base: string;
const sessions = createSessionStore({ ttlMs: 60_000, maxSessions: 3, recheckMs: 10_000, now: () => clock });
const logLines: string[] = [];

before(async () => {
  const ui = createUiServer({
    reviewer,
    sessions,
    sessionTtlMs: 60_000,
    tenants: { tenants: async () => new Map([['team-a', ['team-a']], ['team-b', ['team-b', 'team-b-2']]]) },
    changes: {
      async query(q) {
        calls.queries.push(q);
        // A sloppy source that ignores the namespaces: the view must still show only what it asked for.
        return { rows: ROWS, truncated: false };
      },
    },
    workloads: {
      trail: async (key: WorkloadKey) => (key.name === 'web' ? { exists: true, rows: [{ revision: 1, updated: '2026-10-01T00:00:00Z', status: 'superseded', description: 'Install complete' }, { revision: 2, updated: '2026-10-02T00:00:00Z', status: 'deployed', verdict: 'break-glass', description: 'BREAK-GLASS' }] } : undefined),
      revision: async (_key, n) => (n === 2 ? { revision: 2, manifest: 'image: reg/web:2\nreplicas: 1', previous: { revision: 1, manifest: 'image: reg/web:1\nreplicas: 1' } } : undefined),
    },
    reports: { violations: async () => [] },
    exporter,
    policies: { view: () => ({ digest: 'sha256:set', policies: [{ name: 'images', version: '1.0.0', digest: 'sha256:p', source: 'policies/images.yaml', rules: [{ id: 'registries', action: 'deny', check: 'images', parameters: { allowed: ['registry.example.com/**'] } }] }] }) as never },
    stylesheet: 'body{}',
    log: pino({ level: 'info' }, { write: (l: string) => void logLines.push(l) }),
    loginBodyLimit: 1024,
  });
  server = createServer(ui.listener);
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => new Promise<void>((ok) => server.close(() => ok())));

const get = (path: string, headers: Record<string, string> = {}) => fetch(base + path, { headers, redirect: 'manual' });
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
async function login(token: string): Promise<Response> {
  return fetch(`${base}/login`, { method: 'POST', body: new URLSearchParams({ token }), redirect: 'manual' });
}
function cookieOf(res: Response): string {
  return res.headers.get('set-cookie')!.split(';')[0]!;
}

describe('the web view', () => {
  it('sends the security headers on every answer, errors and redirects included', async () => {
    for (const res of [await get('/login'), await get('/'), await get('/tenants/team-b', bearer('alice-token')), await get('/static/ui.css'), await get('/nope', bearer('alice-token'))]) {
      assert.equal(res.headers.get('content-security-policy'), CONTENT_SECURITY_POLICY);
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
      assert.equal(res.headers.get('referrer-policy'), 'no-referrer');
      assert.equal(res.headers.get('cache-control'), 'no-store');
    }
    assert.equal(CONTENT_SECURITY_POLICY, "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'");
  });

  it('sends a stranger to the login page, and the page carries no inline script or style', async () => {
    const res = await get('/tenants/team-a');
    assert.equal(res.status, 303);
    assert.equal(res.headers.get('location'), '/login');
    const page = await (await get('/login')).text();
    assert.doesNotMatch(page, /<script|<style|style=/i);
    assert.match(page, /<link rel="stylesheet" href="\/static\/ui.css">/);
  });

  it('refuses an invalid token with the login page and an error, and never echoes the token', async () => {
    const res = await login('not-a-token-SECRET');
    assert.equal(res.status, 401);
    const page = await res.text();
    assert.match(page, /role="alert">The cluster did not accept this token/);
    assert.doesNotMatch(page, /SECRET/);
    assert.equal(res.headers.get('set-cookie'), null);
  });

  it('caps the login body (413) and refuses other content types', async () => {
    const res = await fetch(`${base}/login`, { method: 'POST', body: new URLSearchParams({ token: 'x'.repeat(5000) }), redirect: 'manual' });
    assert.equal(res.status, 413);
    // A body that lies about its length is cut off when it passes the cap, too.
    const streamed = await new Promise<number>((ok, fail) => {
      const req = request(`${base}/login`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'transfer-encoding': 'chunked' } }, (r) => (r.resume(), ok(r.statusCode!)));
      req.on('error', fail);
      req.write(`token=${'y'.repeat(2000)}`);
      req.end();
    });
    assert.equal(streamed, 413);
    const json = await fetch(`${base}/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"token":"alice-token"}', redirect: 'manual' });
    assert.equal(json.status, 415);
  });

  it('logs in with a session cookie (HttpOnly, Secure, SameSite=Strict), logs out, and the token is never logged', async () => {
    const res = await login('alice-token');
    assert.equal(res.status, 303);
    const setCookie = res.headers.get('set-cookie')!;
    assert.match(setCookie, /^__Host-tracegate-session=[A-Za-z0-9_-]{43}; HttpOnly; Secure; SameSite=Strict; Path=\/; Max-Age=60$/);
    const cookie = cookieOf(res);
    const home = await get('/', { cookie });
    assert.equal(home.status, 200);
    const text = await home.text();
    assert.match(text, /href="\/tenants\/team-a"/);
    assert.doesNotMatch(text, /team-b/);
    const out = await fetch(`${base}/logout`, { method: 'POST', headers: { cookie }, redirect: 'manual' });
    assert.equal(out.status, 303);
    assert.match(out.headers.get('set-cookie')!, /Max-Age=0/);
    assert.equal((await get('/', { cookie })).status, 401);
    assert.equal(logLines.some((l) => l.includes('alice-token')), false);
    assert.ok(logLines.some((l) => l.includes('"user":"alice"')));
  });

  it('refuses a login or logout POST from another origin', async () => {
    const post = (headers: Record<string, string>) => fetch(`${base}/login`, { method: 'POST', headers, body: new URLSearchParams({ token: 'alice-token' }), redirect: 'manual' });
    assert.equal((await post({ origin: 'https://evil.example' })).status, 403);
    assert.equal((await post({ 'sec-fetch-site': 'cross-site', origin: 'null' })).status, 403);
    assert.equal((await post({ 'sec-fetch-site': 'same-site' })).status, 403);
    // This site's own form under Referrer-Policy: no-referrer: Origin is null, Fetch Metadata says same-origin.
    assert.equal((await post({ 'sec-fetch-site': 'same-origin', origin: 'null' })).status, 303);
  });

  it('shows a tenant its own changes only, and 403 for another tenant or an unknown one', async () => {
    calls.queries.length = 0;
    const res = await get('/tenants/team-a', bearer('alice-token'));
    assert.equal(res.status, 200);
    const page = await res.text();
    assert.match(page, /<tr class="row-break-glass">/);
    assert.match(page, /BREAK-GLASS/);
    assert.doesNotMatch(page, /reg\/api/, 'a row of team-b that the source returned is not shown');
    assert.doesNotMatch(page, /<script>alert/);
    assert.deepEqual(calls.queries[0]!.namespaces, ['team-a']);
    for (const path of ['/tenants/team-b', '/tenants/no-such-tenant', '/tenants/team-b/export.csv', '/tenants/team-b/export.json']) {
      const other = await get(path, bearer('alice-token'));
      assert.equal(other.status, 403, path);
      assert.match(await other.text(), /You may not see tenant/);
    }
  });

  it('lets an auditor see every tenant, because the reviews say so', async () => {
    const home = await (await get('/', bearer('auditor-token'))).text();
    assert.match(home, /team-a/);
    assert.match(home, /team-b/);
    const b = await get('/tenants/team-b', bearer('auditor-token'));
    assert.equal(b.status, 200);
    assert.match(await b.text(), /reg\/api:1/);
  });

  it('exports CSV and JSON with the digest in a header and on the page', async () => {
    const page = await (await get('/tenants/team-a?since=2000-01-01', bearer('alice-token'))).text();
    const csv = await get('/tenants/team-a/export.csv?since=2000-01-01', bearer('alice-token'));
    assert.equal(csv.status, 200);
    assert.match(csv.headers.get('content-type')!, /^text\/csv/);
    const body = await csv.text();
    assert.equal(body, 'team-a,web');
    assert.equal(csv.headers.get('x-tracegate-digest'), `sha256:len${body.length}`);
    assert.ok(page.includes(`<code>sha256:len${body.length}</code>`));
    const json = await get('/tenants/team-a/export.json?since=2000-01-01', bearer('alice-token'));
    const doc = JSON.parse(await json.text()) as { meta: { namespaces: string[]; policyDigest: string; generatedAt: string } };
    assert.deepEqual(doc.meta.namespaces, ['team-a']);
    assert.equal(doc.meta.policyDigest, 'sha256:set');
    assert.match(json.headers.get('x-tracegate-digest')!, /^sha256:len\d+$/);
  });

  it('needs get secrets for manifests and diffs, list changetrails for the trail', async () => {
    assert.equal((await get('/workloads/team-a/deployment/web', bearer('viewer-token'))).status, 200);
    assert.equal((await get('/workloads/team-a/deployment/web/revisions/2/manifest', bearer('viewer-token'))).status, 403);
    assert.equal((await get('/workloads/team-b/deployment/api', bearer('alice-token'))).status, 403);
    const trail = await (await get('/workloads/team-a/deployment/web', bearer('alice-token'))).text();
    assert.match(trail, /href="\/workloads\/team-a\/deployment\/web\/revisions\/2\/manifest"/);
    const manifest = await get('/workloads/team-a/deployment/web/revisions/2/manifest', bearer('alice-token'));
    assert.equal(manifest.status, 200);
    assert.match(await manifest.text(), /image: reg\/web:2/);
    const diff = await (await get('/workloads/team-a/deployment/web/revisions/2/diff', bearer('alice-token'))).text();
    assert.match(diff, /<span class="del">- image: reg\/web:1\n<\/span><span class="add">\+ image: reg\/web:2\n<\/span>/);
    assert.equal((await get('/workloads/team-a/deployment/web/revisions/9/manifest', bearer('alice-token'))).status, 404);
    assert.equal((await get('/workloads/team-a/deployment/nope', bearer('alice-token'))).status, 404);
    assert.equal((await get('/workloads/Team_A/deployment/web', bearer('alice-token'))).status, 404);
  });

  it('shows the policies with their parameters to a reviewer, not to someone with no tenant', async () => {
    const page = await get('/policies', bearer('alice-token'));
    assert.equal(page.status, 200);
    const text = await page.text();
    assert.match(text, /version 1.0.0/);
    assert.match(text, /<dt>allowed<\/dt><dd>registry.example.com\/\*\*<\/dd>/);
    TOKENS['nobody-token'] = { username: 'nobody', groups: [] };
    assert.equal((await get('/policies', bearer('nobody-token'))).status, 403);
  });

  it('is read-only: other methods are refused', async () => {
    const res = await fetch(`${base}/tenants/team-a`, { method: 'DELETE', headers: bearer('alice-token') });
    assert.equal(res.status, 405);
  });

  it('ends a session whose token was revoked at the next re-check', async () => {
    const cookie = cookieOf(await login('viewer-token'));
    assert.equal((await get('/', { cookie })).status, 200);
    revoked = new Set(['viewer-token']);
    clock += 5_000;
    assert.equal((await get('/', { cookie })).status, 200, 'within the re-check interval the session stands');
    clock += 6_000;
    const res = await get('/', { cookie });
    assert.equal(res.status, 401);
    assert.match(await res.text(), /Your session ended/);
    revoked = new Set();
    assert.equal((await get('/', { cookie })).status, 401, 'the session is gone for good');
  });

  it('asks an invalid bearer token to authenticate', async () => {
    const res = await get('/', bearer('nope'));
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('www-authenticate'), 'Bearer');
  });
});
