/**
 * Regressions of the web view's security review: renders at a time (503 + Retry-After), release
 * records over the read limit (413), a full session store refusing logins (503) instead of dropping
 * anyone's session, a login POST with `Origin: null` and no Fetch Metadata (login CSRF), the same
 * SubjectAccessReviews for an unknown tenant as for a real one, and Helm's records joined only where
 * the user may `get secrets`.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { ReleaseReadLimitError } from '../../src/recorder/storage.js';
import type { ChangeQuery, WorkloadKey } from '../../src/ui/data.js';
import { createRenderLimit } from '../../src/ui/render-limit.js';
import type { Permission, Reviewer, UserIdentity } from '../../src/ui/reviews.js';
import { createUiServer } from '../../src/ui/server.js';
import { createSessionStore } from '../../src/ui/sessions.js';

const USERS: Record<string, UserIdentity> = {
  'alice-token': { username: 'alice', groups: ['team-a'] },
  'bob-token': { username: 'bob', groups: ['team-a'] },
  'vic-token': { username: 'vic', groups: ['team-a-viewers'] },
  'dan-token': { username: 'dan', groups: [] },
};

/** alice and bob list trails and get secrets in team-a; vic only lists trails there. */
function allowedBy(user: UserIdentity, p: Permission): boolean {
  if (p.namespace !== 'team-a') return false;
  if (p.resource === 'changetrails') return ['alice', 'bob', 'vic'].includes(user.username);
  return p.resource === 'secrets' && ['alice', 'bob'].includes(user.username);
}

const asked: Permission[] = [];
const queries: ChangeQuery[] = [];
const trails: { key: WorkloadKey; helm: boolean | undefined }[] = [];
let gate: Promise<void> = Promise.resolve();
let entered = 0;

const reviewer: Reviewer = {
  authenticate: async (token) => USERS[token],
  async allowed(user, p) {
    asked.push(p);
    return allowedBy(user, p);
  },
};

let server: Server;
let base: string;

before(async () => {
  const ui = createUiServer({
    reviewer,
    sessions: createSessionStore({ ttlMs: 60_000, maxSessions: 1, recheckMs: 60_000 }),
    sessionTtlMs: 60_000,
    tenants: { tenants: async () => new Map([['team-a', ['team-a']]]) },
    changes: {
      async query(q) {
        queries.push(q);
        return { rows: [], truncated: false };
      },
    },
    workloads: {
      async trail(key, opts) {
        trails.push({ key, helm: opts?.helm });
        if (key.name === 'bomb') throw new ReleaseReadLimitError('team-a', 'bomb', 32 * 1024 * 1024);
        if (key.name === 'slow') {
          entered++;
          await gate;
        }
        return { exists: true, rows: [] };
      },
      revision: async () => undefined,
    },
    reports: { violations: async () => [] },
    exporter: { csv: () => '', json: () => '{}', digest: () => 'sha256:x' },
    policies: { view: () => ({ digest: 'sha256:set', policies: [] }) as never },
    stylesheet: 'body{}',
    log: pino({ level: 'silent' }),
    renderLimit: { perUser: 1, total: 2 },
  });
  server = createServer(ui.listener);
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => new Promise<void>((ok) => server.close(() => ok())));

const get = (path: string, token: string) => fetch(base + path, { headers: { authorization: `Bearer ${token}` }, redirect: 'manual' });
const waitFor = async (cond: () => boolean) => {
  while (!cond()) await new Promise((r) => setImmediate(r));
};

describe('the web view under load and hostile input', () => {
  it('answers 503 with Retry-After past the renders per user and in all, and serves again after', async () => {
    let open!: () => void;
    gate = new Promise((r) => (open = r));
    entered = 0;
    const first = get('/workloads/team-a/deployment/slow', 'alice-token');
    await waitFor(() => entered === 1);
    const again = await get('/workloads/team-a/deployment/web', 'alice-token');
    assert.equal(again.status, 503, 'alice has one render in flight already');
    assert.equal(again.headers.get('retry-after'), '1');
    const second = get('/workloads/team-a/deployment/slow', 'bob-token');
    await waitFor(() => entered === 2);
    const third = await get('/workloads/team-a/deployment/web', 'vic-token');
    assert.equal(third.status, 503, 'two renders in all');
    open();
    assert.equal((await first).status, 200);
    assert.equal((await second).status, 200);
    assert.equal((await get('/workloads/team-a/deployment/web', 'alice-token')).status, 200);
  });

  it('answers 413 when the release records are over the read limit, and keeps serving', async () => {
    const res = await get('/workloads/team-a/deployment/bomb', 'alice-token');
    assert.equal(res.status, 413);
    assert.match(await res.text(), /inflate to more than 33554432 bytes/);
    assert.equal((await get('/workloads/team-a/deployment/web', 'alice-token')).status, 200);
  });

  it('refuses a login with 503 when the session store is full, dropping nobody', async () => {
    const form = (token: string) => fetch(`${base}/login`, { method: 'POST', body: new URLSearchParams({ token }), redirect: 'manual' });
    const alice = await form('alice-token');
    assert.equal(alice.status, 303);
    const cookie = alice.headers.get('set-cookie')!.split(';')[0]!;
    const bob = await form('bob-token');
    assert.equal(bob.status, 503);
    assert.equal(bob.headers.get('retry-after'), '1');
    assert.equal((await fetch(`${base}/`, { headers: { cookie }, redirect: 'manual' })).status, 200, "alice's session lives on");
  });

  it('refuses a login POST with Origin null and no Fetch Metadata (login CSRF), accepts curl and same-origin', async () => {
    const post = (headers: Record<string, string>) => fetch(`${base}/login`, { method: 'POST', headers, body: new URLSearchParams({ token: 'dan-token' }), redirect: 'manual' });
    assert.equal((await post({ origin: 'null' })).status, 403);
    // Neither header (curl): allowed through to the login itself (the full store answers 503 here).
    assert.notEqual((await post({})).status, 403);
    assert.notEqual((await post({ origin: 'null', 'sec-fetch-site': 'same-origin' })).status, 403);
  });

  it('asks the same SubjectAccessReviews for an unknown tenant as for a one-namespace tenant', async () => {
    asked.length = 0;
    assert.equal((await get('/tenants/team-z', 'dan-token')).status, 403);
    const unknown = asked.map((p) => `${p.verb} ${p.resource} ${p.namespace ? 'ns' : 'all'}`);
    asked.length = 0;
    assert.equal((await get('/tenants/team-a', 'dan-token')).status, 403);
    const known = asked.map((p) => `${p.verb} ${p.resource} ${p.namespace ? 'ns' : 'all'}`);
    assert.deepEqual(unknown, known);
    assert.deepEqual(known, ['list changetrails all', 'list changetrails ns']);
  });

  it("joins Helm's records only where the user may get secrets", async () => {
    queries.length = 0;
    trails.length = 0;
    assert.equal((await get('/tenants/team-a', 'vic-token')).status, 200);
    assert.equal((await get('/tenants/team-a', 'alice-token')).status, 200);
    assert.deepEqual(queries.map((q) => q.helmNamespaces), [[], ['team-a']]);
    assert.equal((await get('/workloads/team-a/deployment/web', 'vic-token')).status, 200);
    assert.equal((await get('/workloads/team-a/deployment/web', 'alice-token')).status, 200);
    assert.deepEqual(trails.map((t) => t.helm), [false, true]);
  });
});

describe('render limit', () => {
  it('counts per user and in all, and a release is idempotent', () => {
    const limit = createRenderLimit({ perUser: 2, total: 3 });
    const a1 = limit.acquire('a')!;
    const a2 = limit.acquire('a')!;
    assert.equal(limit.acquire('a'), undefined);
    const b1 = limit.acquire('b')!;
    assert.equal(limit.acquire('c'), undefined);
    a1();
    a1();
    assert.equal(limit.inFlight(), 2);
    assert.ok(limit.acquire('c'));
    a2();
    b1();
  });
});
