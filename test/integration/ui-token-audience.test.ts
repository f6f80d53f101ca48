/**
 * `tracegate ui --token-audience`: the TokenReview asks for the view's audience, so a token issued for
 * the API server (any pod's ServiceAccount token) no longer signs in — only one made with
 * `kubectl create token … --audience tracegate-ui`. Also the HTTPS server's own limits (request and
 * header timeouts, connections).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { KubeConfig, KubernetesObjectApi, type KubernetesObject } from '@kubernetes/client-node';
import { createLogger } from '../../src/log.js';
import { startUi, type RunningUi } from '../../src/ui/start.js';
import { startTestApiServer, type TestApiServer } from '../support/api-server/index.js';

process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';
let server: TestApiServer;
let ui: RunningUi;
let dir: string;
const UI_USER = 'system:serviceaccount:tracegate:tracegate-ui';

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tracegate-ui-aud-'));
  server = await startTestApiServer({ authorization: 'rbac', controller: false });
  const kcFor = async (user?: string) => {
    const kc = new KubeConfig();
    kc.loadFromFile(await server.kubeconfig(await mkdtemp(join(dir, 'kc-')), user ? { user, groups: ['system:serviceaccounts'] } : undefined));
    return kc;
  };
  const admin = KubernetesObjectApi.makeApiClient(await kcFor());
  await admin.create({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'ui-namespaces' }, rules: [{ apiGroups: [''], resources: ['namespaces'], verbs: ['list'] }] } as KubernetesObject);
  for (const role of ['system:auth-delegator', 'ui-namespaces'])
    await admin.create({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: `ui-${role.replace(':', '-')}` }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role }, subjects: [{ kind: 'ServiceAccount', name: 'tracegate-ui', namespace: 'tracegate' }] } as KubernetesObject);
  ui = await startUi({
    host: '127.0.0.1',
    port: 0,
    certDir: join(dir, 'certs'),
    tlsMinVersion: 'TLSv1.2',
    kubeConfig: await kcFor(UI_USER),
    prefix: 'tracegate.io/',
    tenantLabel: 'tracegate.io/tenant',
    policies: [],
    policySource: 'files',
    tokenAudiences: ['tracegate-ui'],
    changes: { query: async () => ({ rows: [], truncated: false }) },
    exporter: { csv: () => '', json: () => '{}', digest: () => 'sha256:x' },
    log: createLogger({ level: 'silent' }),
    env: {},
    cwd: dir,
  });
});
after(async () => {
  await ui?.close();
  await server?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

it('accepts only tokens issued for the view\'s audience', async () => {
  const page = (token: string) => fetch(`${ui.url}/`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal((await page(server.token('alice', ['team-a'], ['tracegate-ui']))).status, 200);
  assert.equal((await page(server.token('alice', ['team-a'], ['https://kubernetes.default.svc']))).status, 401, 'an API-server token');
  assert.equal((await page(server.token('alice', ['team-a'], ['other-app']))).status, 401);
});

it('serves with request and header timeouts and a connection cap', () => {
  assert.equal(ui.server.requestTimeout, 30_000);
  assert.equal(ui.server.headersTimeout, 10_000);
  assert.equal(ui.server.maxConnections, 256);
});
