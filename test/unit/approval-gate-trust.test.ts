/**
 * The gate's trust files (`--approval-keys`, `--ci-issuers`): a JWKS file trusted by every tenant, a
 * directory of per-tenant files as a mounted ConfigMap holds them (its `..data` entries ignored), a CI
 * issuers file whose JWKS paths are relative to it; anything unusable is one APPROVAL_KEYS line.
 */
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { loadApprovalKeyPath, loadCiIssuerPath } from '../../src/approval/trust-files.js';
import { buildConfig } from '../../src/config.js';

const FIX = fileURLToPath(new URL('../fixtures/approval/', import.meta.url));
let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tracegate-trust-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function rejects(p: Promise<unknown>, message: RegExp): Promise<void> {
  await assert.rejects(p, (err: Error & { code?: string }) => {
    assert.equal(err.code, 'APPROVAL_KEYS');
    assert.match(err.message, message);
    assert.doesNotMatch(err.message, /\n/);
    return true;
  });
}

describe('--approval-keys', () => {
  it('a JWKS file: every tenant trusts its keys', async () => {
    const keys = await loadApprovalKeyPath(join(FIX, 'approval.jwks.json'));
    assert.equal(keys.find('team-a', 'ed-1')?.alg, 'EdDSA');
    assert.equal(keys.find('team-b', 'ec-1')?.alg, 'ES256');
  });

  it('a directory as a ConfigMap mounts it: <tenant>.jwks.json per tenant, _shared for all', async () => {
    const cm = join(dir, 'cm');
    const data = join(cm, '..2026_12_06_10_00_00.000');
    await mkdir(data, { recursive: true });
    await copyFile(join(FIX, 'approval.jwks.json'), join(data, 'team-a.jwks.json'));
    await writeFile(join(data, 'README'), 'not a key file');
    await symlink(data, join(cm, '..data'));
    await symlink(join('..data', 'team-a.jwks.json'), join(cm, 'team-a.jwks.json'));
    const keys = await loadApprovalKeyPath(cm, { cluster: 'prod-eu' });
    assert.equal(keys.find('team-a', 'ed-1')?.tenant, 'team-a');
    assert.equal(keys.find('team-b', 'ed-1'), undefined);
    assert.deepEqual(keys.audiences, ['tracegate', 'prod-eu']);
  });

  it('one line for what cannot be used, never key material', async () => {
    await rejects(loadApprovalKeyPath(join(dir, 'missing')), /^cannot read --approval-keys .*missing: ENOENT$/);
    const empty = join(dir, 'empty');
    await mkdir(empty);
    await rejects(loadApprovalKeyPath(empty), /holds no <tenant>\.jwks\.json or _shared\.jwks\.json file/);
    const priv = join(dir, 'priv');
    await mkdir(priv);
    await copyFile(join(FIX, 'approval-private.jwks.json'), join(priv, '_shared.jwks.json'));
    await rejects(loadApprovalKeyPath(priv), /carries private key material \(d\)/);
  });
});

describe('--ci-issuers', () => {
  it('YAML with JWKS paths relative to the file', async () => {
    const sub = join(dir, 'ci');
    await mkdir(sub);
    await copyFile(join(FIX, 'ci.jwks.json'), join(sub, 'github.jwks.json'));
    await writeFile(join(sub, 'issuers.yaml'), `issuers:\n  - issuer: https://token.actions.githubusercontent.com\n    audience: tracegate\n    jwks: github.jwks.json\n    tenants: { team-a: [org/team-a-*] }\n    protectedEnvironments: [production]\n`);
    const issuers = await loadCiIssuerPath(join(sub, 'issuers.yaml'));
    const gh = issuers.get('https://token.actions.githubusercontent.com');
    assert.equal(gh?.mayDeploy('org/team-a-api', 'team-a'), true);
    assert.equal(gh?.mayDeploy('org/team-a-api', 'team-b'), false);
    assert.equal(gh?.isProtected('Production'), true);
  });

  it('one line for a file that is missing, not YAML, or lists no issuers', async () => {
    await rejects(loadCiIssuerPath(join(dir, 'nope.yaml')), /^cannot read --ci-issuers .*nope\.yaml: ENOENT$/);
    await writeFile(join(dir, 'bad.yaml'), 'issuers: [');
    await rejects(loadCiIssuerPath(join(dir, 'bad.yaml')), /is not YAML or JSON$/);
    await writeFile(join(dir, 'none.yaml'), 'issuers: []\n');
    await rejects(loadCiIssuerPath(join(dir, 'none.yaml')), /has no issuers: list/);
  });
});

describe('the gate configuration', () => {
  it('takes the trust from flags and environment, and checks the cluster name', () => {
    const c = buildConfig({ TRACEGATE_APPROVAL_KEYS: '/etc/tracegate/approval-keys', TRACEGATE_CLUSTER_NAME: 'prod-eu' }, { ciIssuers: 'issuers.yaml' });
    assert.equal(c.approvalKeys, '/etc/tracegate/approval-keys');
    assert.equal(c.ciIssuers, 'issuers.yaml');
    assert.equal(c.clusterName, 'prod-eu');
    assert.throws(() => buildConfig({}, { clusterName: 'Prod EU' }), /clusterName/);
  });
});
