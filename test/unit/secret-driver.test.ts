/**
 * Helm's Secret driver over an in-memory fake of client-node's CoreV1Api that keeps Secrets the way the
 * JSON API does (data base64, resourceVersion, 404/409 as ApiException with a Status body).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { ApiException, type V1Secret } from '@kubernetes/client-node';
import { isTracegateError } from '../../src/errors.js';
import { encodeRelease, fromSecret } from '../../src/recorder/codec.js';
import type { HelmRelease } from '../../src/recorder/release.js';
import { createSecretDriver, type SecretCore } from '../../src/recorder/secret-driver.js';
import { ReleaseCorruptError, ReleaseExistsError, type SkippedRecord } from '../../src/recorder/storage.js';

const T0 = new Date('2026-03-02T09:14:07Z');
const T0_SECONDS = '1772442847';
const T1 = new Date('2026-03-02T10:00:00Z');
const T1_SECONDS = '1772445600';

function release(version: number, status: string, name = 'web'): HelmRelease {
  return {
    name,
    info: { first_deployed: '2026-03-02T09:14:07.123456789Z', last_deployed: '2026-03-02T09:14:07.123456789Z', status, description: `rev ${version}` },
    chart: { metadata: { name, version: '0.1.0', apiVersion: 'v2' }, lock: null, templates: [], values: {}, schema: null, files: [] },
    manifest: `---\n# Source: ${name}/templates/deployment.yaml\nkind: Deployment\n`,
    version,
    namespace: 'shop',
  };
}

function status(code: number, reason: string, message: string): ApiException<string> {
  return new ApiException(code, `HTTP ${code}`, JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code, reason, message }), {});
}

interface Fake {
  core: SecretCore;
  store: Map<string, V1Secret>;
  calls: string[];
  /** Puts a Secret straight into the store, as if another client (Helm) had written it. */
  seed(secret: V1Secret): void;
  failNext(err: unknown): void;
}

function createFake(): Fake {
  const store = new Map<string, V1Secret>();
  const calls: string[] = [];
  let resourceVersion = 100;
  let failure: unknown;
  const key = (namespace: string, name: string): string => `${namespace}/${name}`;
  const wire = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T;
  const check = (): void => {
    if (failure === undefined) return;
    const err = failure;
    failure = undefined;
    throw err;
  };
  function put(namespace: string, body: V1Secret): V1Secret {
    for (const [k, v] of Object.entries(body.data ?? {})) {
      // The apiserver's JSON decoder rejects Secret data that is not base64.
      if (!/^[A-Za-z0-9+/]*={0,2}$/.test(v) || v.length % 4 !== 0) throw status(400, 'BadRequest', `data[${k}]: illegal base64 data`);
    }
    const stored = wire(body);
    stored.metadata = { ...stored.metadata, namespace, resourceVersion: String(++resourceVersion) };
    store.set(key(namespace, stored.metadata.name ?? ''), stored);
    return wire(stored);
  }
  const matches = (labels: Record<string, string> | undefined, selector: string): boolean =>
    selector.split(',').every((term) => {
      const [k = '', v] = term.split('=');
      return labels?.[k] === v;
    });

  const core: SecretCore = {
    async listNamespacedSecret({ namespace, labelSelector }) {
      calls.push(`list ${namespace} ${labelSelector ?? ''}`);
      check();
      const items = [...store.values()].filter((s) => s.metadata?.namespace === namespace && matches(s.metadata?.labels, labelSelector ?? ''));
      return { items: wire(items) };
    },
    async readNamespacedSecret({ name, namespace }) {
      calls.push(`read ${namespace} ${name}`);
      check();
      const s = store.get(key(namespace, name));
      if (!s) throw status(404, 'NotFound', `secrets "${name}" not found`);
      return wire(s);
    },
    async createNamespacedSecret({ namespace, body }) {
      calls.push(`create ${namespace} ${body.metadata?.name ?? ''}`);
      check();
      if (store.has(key(namespace, body.metadata?.name ?? ''))) throw status(409, 'AlreadyExists', `secrets "${body.metadata?.name}" already exists`);
      return put(namespace, body);
    },
    async replaceNamespacedSecret({ name, namespace, body }) {
      calls.push(`replace ${namespace} ${name}`);
      check();
      if (!store.has(key(namespace, name))) throw status(404, 'NotFound', `secrets "${name}" not found`);
      return put(namespace, body);
    },
    async deleteNamespacedSecret({ name, namespace }) {
      calls.push(`delete ${namespace} ${name}`);
      check();
      if (!store.delete(key(namespace, name))) throw status(404, 'NotFound', `secrets "${name}" not found`);
      return {};
    },
  };
  return {
    core,
    store,
    calls,
    seed: (secret) => store.set(key(secret.metadata?.namespace ?? '', secret.metadata?.name ?? ''), wire(secret)),
    failNext: (err) => {
      failure = err;
    },
  };
}

/** A Secret as Helm itself writes it: Go gzip header, no custom labels, createdAt only. */
function helmWritten(rel: HelmRelease, createdAt: string): V1Secret {
  const goGzip = Buffer.from(encodeRelease(rel), 'base64');
  goGzip[9] = 0xff; // OS byte of Go's compress/gzip
  return {
    metadata: {
      name: `sh.helm.release.v1.${rel.name}.v${rel.version}`,
      namespace: rel.namespace ?? '',
      labels: { name: rel.name, owner: 'helm', status: rel.info.status ?? '', version: String(rel.version), createdAt },
    },
    type: 'helm.sh/release.v1',
    data: { release: Buffer.from(goGzip.toString('base64')).toString('base64') },
  };
}

function setup(now = T0) {
  const fake = createFake();
  const skipped: SkippedRecord[] = [];
  const driver = createSecretDriver({ core: fake.core, now: () => now, onSkip: (s) => skipped.push(s) });
  return { fake, skipped, driver };
}

describe('Secret driver', () => {
  it('creates a Secret Helm can read: name, labels with createdAt, data double base64', async () => {
    const { fake, driver } = setup();
    await driver.create(release(1, 'deployed'), { 'tracegate.io/tenant': 'shop' });
    const stored = fake.store.get('shop/sh.helm.release.v1.web.v1');
    assert.ok(stored);
    assert.equal(stored.type, 'helm.sh/release.v1');
    assert.deepEqual(stored.metadata?.labels, {
      'tracegate.io/tenant': 'shop',
      name: 'web',
      owner: 'helm',
      status: 'deployed',
      version: '1',
      createdAt: T0_SECONDS,
    });
    assert.ok(stored.data?.release?.startsWith('SDRzSUFB'));
    const back = fromSecret(stored);
    assert.ok(back.ok);
    assert.deepEqual(back.value.release, release(1, 'deployed'));
  });

  it('turns 409 on create into ReleaseExistsError (Helm\'s lock)', async () => {
    const { driver } = setup();
    await driver.create(release(2, 'deployed'), {});
    await assert.rejects(driver.create(release(2, 'pending-upgrade'), {}), (err: unknown) => {
      return err instanceof ReleaseExistsError && err.version === 2 && err.release === 'web' && err.namespace === 'shop';
    });
  });

  it('lists with Helm\'s selector, sorts by version, keeps only custom labels and the resourceVersion', async () => {
    const { fake, driver } = setup();
    for (const v of [3, 1, 2]) await driver.create(release(v, v === 3 ? 'deployed' : 'superseded'), { commit: `c${v}` });
    await driver.create(release(1, 'deployed', 'api'), {});
    fake.seed({ ...helmWritten(release(9, 'deployed'), '1'), metadata: { name: 'other', namespace: 'shop', labels: { name: 'web', owner: 'someone-else' } } });
    fake.calls.length = 0;
    const history = await driver.history('shop', 'web');
    assert.deepEqual(fake.calls, ['list shop name=web,owner=helm']);
    assert.deepEqual(history.map((h) => h.release.version), [1, 2, 3]);
    assert.deepEqual(history.map((h) => h.labels), [{ commit: 'c1' }, { commit: 'c2' }, { commit: 'c3' }]);
    assert.ok(history.every((h) => typeof h.resourceVersion === 'string'));
  });

  it('reads records Helm wrote (Go gzip header, no custom labels)', async () => {
    const { fake, driver } = setup();
    fake.seed(helmWritten(release(1, 'deployed'), '1763717400'));
    const [only] = await driver.history('shop', 'web');
    assert.deepEqual(only?.release, release(1, 'deployed'));
    assert.deepEqual(only?.labels, {});
  });

  it('skips undecodable records but reports each through onSkip', async () => {
    const { fake, skipped, driver } = setup();
    await driver.create(release(1, 'superseded'), {});
    const broken = helmWritten(release(2, 'deployed'), '1');
    fake.seed({ ...broken, data: { release: Buffer.from(gzipSync('{not json')).toString('base64') } });
    fake.seed({ ...helmWritten(release(3, 'deployed'), '1'), data: {} });
    const history = await driver.history('shop', 'web');
    assert.deepEqual(history.map((h) => h.release.version), [1]);
    assert.deepEqual(skipped.map((s) => s.key).sort(), ['sh.helm.release.v1.web.v2', 'sh.helm.release.v1.web.v3']);
    assert.ok(skipped.every((s) => s.namespace === 'shop' && s.error.length > 0));
  });

  it('gets one revision by Secret name; a missing one is undefined, a corrupt one an error', async () => {
    const { fake, driver } = setup();
    await driver.create(release(1, 'deployed'), { commit: 'abc' });
    fake.calls.length = 0;
    const got = await driver.get('shop', 'web', 1);
    assert.deepEqual(fake.calls, ['read shop sh.helm.release.v1.web.v1']);
    assert.deepEqual(got?.labels, { commit: 'abc' });
    assert.equal(got?.release.version, 1);
    assert.equal(await driver.get('shop', 'web', 7), undefined);
    fake.seed({ ...helmWritten(release(2, 'deployed'), '1'), data: { release: 'SDRzSUFB' } });
    await assert.rejects(driver.get('shop', 'web', 2), ReleaseCorruptError);
  });

  it('updates unconditionally: new status in label and JSON, modifiedAt set, createdAt kept when known', async () => {
    const { fake, driver } = setup();
    await driver.create(release(1, 'deployed'), { commit: 'abc' });
    const later = createSecretDriver({ core: fake.core, now: () => T1 });
    const [first] = await later.history('shop', 'web');
    assert.ok(first);
    await later.update({ ...first.release, info: { ...first.release.info, status: 'superseded' } }, first.labels);
    const stored = fake.store.get('shop/sh.helm.release.v1.web.v1');
    assert.deepEqual(stored?.metadata?.labels, {
      commit: 'abc',
      name: 'web',
      owner: 'helm',
      status: 'superseded',
      version: '1',
      createdAt: T0_SECONDS,
      modifiedAt: T1_SECONDS,
    });
    const back = fromSecret(stored ?? {});
    assert.equal(back.ok && back.value.release.info.status, 'superseded');
  });

  it('without an earlier read, update drops createdAt as Helm does', async () => {
    const { fake, driver } = setup();
    await driver.create(release(1, 'deployed'), {});
    const fresh = createSecretDriver({ core: fake.core, now: () => T1 });
    await fresh.update(release(1, 'superseded'), {});
    const labels = fake.store.get('shop/sh.helm.release.v1.web.v1')?.metadata?.labels;
    assert.equal(labels?.createdAt, undefined);
    assert.equal(labels?.modifiedAt, T1_SECONDS);
  });

  it('deletes a revision; deleting one already gone is fine', async () => {
    const { fake, driver } = setup();
    await driver.create(release(1, 'superseded'), {});
    await driver.delete('shop', 'web', 1);
    assert.equal(fake.store.size, 0);
    await driver.delete('shop', 'web', 1);
  });

  it('wraps other API failures as KUBE_API errors carrying the apiserver message and status', async () => {
    const { fake, driver } = setup();
    fake.failNext(status(403, 'Forbidden', 'secrets is forbidden: User "x" cannot list resource "secrets"'));
    await assert.rejects(driver.history('shop', 'web'), (err: unknown) => {
      return isTracegateError(err, 'KUBE_API') && err.details.status === 403 && /cannot list resource "secrets"/.test(err.message);
    });
    fake.failNext(status(500, 'InternalError', 'etcd timeout'));
    await assert.rejects(driver.delete('shop', 'web', 1), (err: unknown) => isTracegateError(err, 'KUBE_API') && err.details.status === 500);
    await assert.rejects(driver.update(release(5, 'deployed'), {}), (err: unknown) => isTracegateError(err, 'KUBE_API') && err.details.status === 404);
    fake.failNext(new Error('socket hang up'));
    await assert.rejects(driver.get('shop', 'web', 1), (err: unknown) => isTracegateError(err, 'KUBE_API') && /socket hang up/.test(err.message));
  });

  it('refuses a release without a namespace before calling the API', async () => {
    const { fake, driver } = setup();
    const { namespace: _ns, ...rest } = release(1, 'deployed');
    await assert.rejects(driver.create(rest as HelmRelease, {}), (e: unknown) => isTracegateError(e, 'RELEASE_INVALID'));
    assert.deepEqual(fake.calls, []);
  });
});
