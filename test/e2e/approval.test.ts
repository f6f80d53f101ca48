/**
 * Verified provenance, end to end with the real kubectl and helm: the provenance policy requires a
 * signed approval (`signedApproval.require: signed`), the gate trusts the approver key of the test
 * vectors (test/fixtures/approval, made with openssl) for every tenant. CI deploys with a signed
 * approval and the record says the approver was verified; alice's forged `approvedBy` is refused; the
 * same approval replayed in team-b is refused with the reason.
 */
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { bundledPoliciesDir } from '../../src/paths.js';
import { startStoryCluster, type Any, type StoryCluster } from '../support/cluster.js';
import { ALICE, CHART, CI, annotationsOf, helmHistory, helmLabels, imageOf, ok, teamImage } from './helpers.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/approval/', import.meta.url));
const KEY = join(FIXTURES, 'ed25519.pem');
const APPROVAL = 'tracegate.io/approval';
const COMMIT = '3f2a9c1d4e5b6a7980f1e2d3c4b5a6978e8f9a0b';

let c: StoryCluster;
let dir: string;

/** The bundled provenance policy with signed approvals required. */
async function signedPolicy(): Promise<string> {
  const { parse } = await import('yaml');
  const doc = parse(await readFile(join(bundledPoliciesDir, 'provenance.yaml'), 'utf8')) as Any;
  doc['metadata']['name'] = 'provenance-signed';
  doc['spec']['rules'][0]['provenance']['signedApproval'] = { require: 'signed' };
  const file = join(dir, 'provenance-signed.yaml');
  await writeFile(file, stringify(doc));
  return file;
}

/** `tracegate approve` of one manifest file, as bob with the test key: the JWS. */
async function approve(manifest: string, extra: string[] = []): Promise<string> {
  const res = await c.tracegate(['approve', '-f', manifest, '--name', 'web', '--key', KEY, '--kid', 'ed-1', '--approver', 'bob', '--commit', COMMIT, '--pipeline-run', 'gh-7421', '--test-results', 'https://ci.example.com/runs/7421', ...extra]);
  assert.equal(res.code, 0, res.stderr);
  const line = res.stdout.trim();
  assert.ok(line.startsWith(`${APPROVAL}=`), line);
  return line.slice(APPROVAL.length + 1);
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tracegate-approval-e2e-'));
  // The keys as a mounted ConfigMap would hold them: every tenant trusts the shared file.
  await mkdir(join(dir, 'keys'));
  await copyFile(join(FIXTURES, 'approval.jwks.json'), join(dir, 'keys', '_shared.jwks.json'));
  c = await startStoryCluster({
    namespaces: [{ name: 'team-a', tenant: 'team-a' }, { name: 'team-b', tenant: 'team-b' }],
    policies: [join(bundledPoliciesDir, 'image-hygiene.yaml'), join(bundledPoliciesDir, 'resources.yaml'), await signedPolicy()],
    approvalKeys: join(dir, 'keys'),
  });
});

after(async () => {
  await c?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('signed approvals through the gate', () => {
  let jws: string;

  it('CI deploys with a signed approval: admitted, the approver stamped verified', async () => {
    const rendered = ok(await c.helm(['template', 'web', CHART, '-n', 'team-a', '--set', 'image.tag=1.5.0'], CI), 'helm template').stdout;
    const manifest = join(dir, 'rendered.yaml');
    await writeFile(manifest, rendered);
    jws = await approve(manifest, ['-n', 'team-a']);
    ok(await c.helm(['install', 'web', CHART, '-n', 'team-a', '--set', 'image.tag=1.5.0', '--set-string', `annotations.tracegate\\.io/approval=${jws}`], CI), 'helm install with the approval');
    const a = annotationsOf(c.deployment('team-a', 'web'));
    // The statement's commit and approver became the change's own, and the gate stamped them verified.
    assert.equal(a['tracegate.io/commit'], COMMIT);
    assert.equal(a['tracegate.io/approver'], 'bob');
    assert.equal(a['tracegate.io/change-approver'], 'bob');
    assert.match(a['tracegate.io/change-verified'] ?? '', /^approval sha256:[0-9a-f]{64}$/);
    assert.equal(a['tracegate.io/change-test-results'], 'https://ci.example.com/runs/7421');
    await c.recorded('team-a', 'web');
  });

  it('a kubectl change with its own approval is a Helm revision whose approver is verified', async () => {
    const live = structuredClone(c.deployment('team-a', 'web')) as Any;
    live['spec']['template']['spec']['containers'][0]['image'] = teamImage('1.5.1');
    const manifest = join(dir, 'next.yaml');
    await writeFile(manifest, JSON.stringify(live));
    const next = await approve(manifest, ['--commit', 'a1b2c3d4e5f6']);
    const patch = { metadata: { annotations: { [APPROVAL]: next, 'tracegate.io/commit': 'a1b2c3d4e5f6', 'tracegate.io/approver': 'bob' } }, spec: { template: { spec: { containers: [{ name: 'web', image: teamImage('1.5.1') }] } } } };
    ok(await c.kubectl(['patch', 'deployment/web', '-n', 'team-a', '-p', JSON.stringify(patch)], CI), 'kubectl patch with the approval');
    await c.recorded('team-a', 'web');
    const history = await helmHistory(c, 'web', 'team-a');
    assert.equal(history.length, 2);
    assert.match(history[1]!.description, /approved by bob \(signed approval verified\)/);
    const labels = await helmLabels(c, 'web', 'team-a', 2);
    assert.equal(labels['tracegate.io/approval'], 'verified');
    assert.match(labels['tracegate.io/approval-sha256'] ?? '', /^[0-9a-f]{32}$/);
    const res = await c.tracegate(['history', 'team-a/web', '-o', 'json']);
    assert.equal(res.code, 0, res.stderr);
    const rows = (JSON.parse(res.stdout) as Any)['revisions'] as Any[];
    assert.deepEqual(rows.map((r) => [r['revision'], r['approval']]), [[1, 'verified'], [2, 'verified']]);
    assert.match(rows[1]!['approvalDigest'], /^approval sha256:/);
    const table = await c.tracegate(['history', 'team-a/web']);
    assert.match(table.stdout, /APPROVAL/);
  });

  it('a compliance reviewer re-verifies each recorded revision offline with the public keys', async () => {
    const jwks = join(FIXTURES, 'approval.jwks.json');
    for (const revision of [1, 2]) {
      const res = await c.tracegate(['verify', '--jwks', jwks, '--revision', String(revision), 'team-a/web']);
      assert.equal(res.code, 0, res.stderr);
      assert.match(res.stdout, new RegExp(`^revision ${revision} of deployment team-a/web: verified: Deployment team-a/web approved by bob .*the statement recorded for it \\(sha256:[0-9a-f]{64}\\)$`, 'm'));
    }
    // Another key set does not verify it: the reason is one line.
    const other = join(dir, 'other.jwks.json');
    await writeFile(other, JSON.stringify({ keys: [JSON.parse(await readFile(jwks, 'utf8'))['keys'][1]] }));
    const refused = await c.tracegate(['verify', '--jwks', other, '--revision', '1', 'team-a/web']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /not verified: unknown key id ed-1 for tenant team-a/);
  });

  it('alice forges approvedBy: denied under require: signed, with the reason', async () => {
    const res = await c.kubectl(['patch', 'deployment/web', '-n', 'team-a', '-p', JSON.stringify({ metadata: { annotations: { 'ci/commit': 'c0ffee1234', approvedBy: 'not-a-person' } }, spec: { template: { spec: { containers: [{ name: 'web', image: teamImage('1.6.0') }] } } } })], ALICE);
    assert.equal(res.code, 1);
    assert.match(res.stderr, /no verified approval: approval not verified: approval binds another pod template/);
    // Without any approval left on the object: the same forgery names what is missing.
    ok(await c.kubectl(['annotate', 'deployment/web', '-n', 'team-a', `${APPROVAL}-`], ALICE), 'remove the approval');
    const bare = await c.kubectl(['patch', 'deployment/web', '-n', 'team-a', '-p', JSON.stringify({ metadata: { annotations: { 'ci/commit': 'c0ffee1234', approvedBy: 'not-a-person' } }, spec: { template: { spec: { containers: [{ name: 'web', image: teamImage('1.6.0') }] } } } })], ALICE);
    assert.equal(bare.code, 1);
    assert.match(bare.stderr, /no verified approval: the change carries no signed approval and no CI token/);
    assert.equal(imageOf(c.deployment('team-a', 'web')), teamImage('1.5.1'));
  });

  it('a valid approval with a forged approver: denied, naming the signer', async () => {
    const live = structuredClone(c.deployment('team-a', 'web')) as Any;
    live['spec']['template']['spec']['containers'][0]['image'] = teamImage('1.6.0');
    const manifest = join(dir, 'forged.yaml');
    await writeFile(manifest, JSON.stringify(live));
    const approval = await approve(manifest, ['--commit', 'c0ffee1234']);
    const res = await c.kubectl(['patch', 'deployment/web', '-n', 'team-a', '-p', JSON.stringify({ metadata: { annotations: { [APPROVAL]: approval, 'ci/commit': 'c0ffee1234', approvedBy: 'not-a-person' } }, spec: { template: { spec: { containers: [{ name: 'web', image: teamImage('1.6.0') }] } } } })], ALICE);
    assert.equal(res.code, 1);
    assert.match(res.stderr, /approval is signed by bob, not not-a-person \(the approver annotation\)/);
  });

  it('the same approval replayed on team-b: denied with the reason', async () => {
    const rendered = ok(await c.helm(['template', 'web', CHART, '-n', 'team-b', '--set', 'image.tag=1.5.0'], CI), 'helm template').stdout;
    const doc = (await import('yaml')).parse(rendered) as Any;
    doc['metadata']['namespace'] = 'team-b';
    doc['metadata']['annotations'] = { [APPROVAL]: jws };
    const res = await c.kubectl(['apply', '-f', '-'], { ...CI, input: JSON.stringify(doc) });
    assert.equal(res.code, 1);
    assert.match(res.stderr, /no verified approval: approval not verified: approval is for namespace team-a, not team-b/);
    assert.equal(c.deployment('team-b', 'web'), undefined);
  });
});
