/**
 * `tracegate approve` and `tracegate verify` in process: a manifest approved and re-verified offline,
 * refusals as one line with exit 1, usage errors, and a live Deployment on the test API server
 * approved and annotated with a merge patch that changes nothing else.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { KubeConfig, KubernetesObjectApi } from '@kubernetes/client-node';
import { parse } from 'yaml';
import { createCli } from '../../src/cli/main.js';
import { startTestApiServer, type TestApiServer } from '../support/api-server/index.js';

const fixtures = fileURLToPath(new URL('../fixtures/approval/', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'tg-approve-cli-'));
const run = createCli();

async function cli(args: string[], stdin = ''): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await run(args, { stdout: (t) => void (out += t), stderr: (t) => void (err += t), readStdin: async () => stdin, env: {}, cwd: fixtures });
  return { code, out, err };
}

const SIGN = ['--key', 'ed25519.pem', '--kid', 'ed-1', '--approver', 'bob', '--commit', '3f2a9c1'];

describe('tracegate approve -f and tracegate verify', () => {
  it('prints the annotation line, which verify accepts for the same manifest', async () => {
    const approve = await cli(['approve', '-f', 'deployment.yaml', ...SIGN, '--pipeline-run', '42', '--test-results', 'https://ci.example.com/42']);
    assert.equal(approve.code, 0, approve.err);
    assert.match(approve.out, /^tracegate\.io\/approval=[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\n$/);
    writeFileSync(join(tmp, 'approval.txt'), approve.out);
    const verify = await cli(['verify', '--jwks', 'approval.jwks.json', '--tenant', 'team-a', join(tmp, 'approval.txt'), '--object', 'deployment.yaml']);
    assert.equal(verify.code, 0, verify.err);
    assert.match(verify.out, /^verified: Deployment team-a\/web approved by bob \(issuer tracegate approve, key ed-1\), commit 3f2a9c1, pipeline run 42, test results https:\/\/ci\.example\.com\/42; binds pod template sha256:046c1c31876b…/);
  });

  it('prints the claims with -o json, and binds images with --bind images', async () => {
    const r = await cli(['approve', '-f', 'deployment.yaml', ...SIGN, '--bind', 'images', '--ttl', '2h', '-o', 'json']);
    assert.equal(r.code, 0, r.err);
    const doc = JSON.parse(r.out) as { annotation: Record<string, string>; header: Record<string, string>; claims: Record<string, any> };
    assert.deepEqual(doc.header, { alg: 'EdDSA', kid: 'ed-1', typ: 'tracegate-approval+jwt' });
    assert.equal(doc.claims.exp - doc.claims.iat, 7200);
    assert.equal(doc.claims.tracegate.template, undefined);
    assert.equal(doc.claims.tracegate.images.length, 3);
    assert.ok(doc.annotation['tracegate.io/approval']);
  });

  it('reads the approval from the object\'s own annotation, and refuses it when expired (exit 1, one line)', async () => {
    const { out } = await cli(['approve', '-f', 'deployment.yaml', ...SIGN]);
    const obj = parse(readFileSync(join(fixtures, 'deployment.yaml'), 'utf8'));
    obj.metadata.annotations = { 'tracegate.io/approval': out.trim().split('=')[1] };
    writeFileSync(join(tmp, 'annotated.json'), JSON.stringify(obj));
    const ok = await cli(['verify', '--jwks', 'approval.jwks.json', '--object', join(tmp, 'annotated.json')]);
    assert.equal(ok.code, 0, ok.err);
    const otherKeys = await cli(['verify', '--jwks', 'ci.jwks.json', '--object', join(tmp, 'annotated.json')]);
    assert.equal(otherKeys.code, 2, 'an RSA JWKS is no approval trust');
    const later = await cli(['verify', '--jwks', 'approval.jwks.json', '--object', join(tmp, 'annotated.json'), '--at', '2099-01-01T00:00:00Z']);
    assert.equal(later.code, 1);
    assert.match(later.err, /^tracegate verify: not verified: approval expired at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\n$/);
  });

  it('verifies the openssl vectors as of their time, and names the failed check for a replay', async () => {
    const at = ['--at', '2026-12-01T09:30:00Z'];
    assert.equal((await cli(['verify', '--jwks', 'approval.jwks.json', 'vectors/es256-images.jws', '--object', 'deployment.yaml', ...at])).code, 0);
    const moved = parse(readFileSync(join(fixtures, 'deployment.yaml'), 'utf8'));
    moved.metadata.namespace = 'team-b';
    writeFileSync(join(tmp, 'team-b.yaml'), JSON.stringify(moved));
    const replay = await cli(['verify', '--jwks', 'approval.jwks.json', 'vectors/ed25519-template.jws', '--object', join(tmp, 'team-b.yaml'), ...at]);
    assert.deepEqual([replay.code, replay.err], [1, 'tracegate verify: not verified: approval is for namespace team-a, not team-b\n']);
  });

  it('refuses incomplete or ambiguous requests as usage errors', async () => {
    const cases: [string[], RegExp][] = [
      [['approve', '-f', 'deployment.yaml', '--key', 'ed25519.pem', '--commit', '3f2a9c1'], /--approver NAME is required/],
      [['approve', '-f', 'deployment.yaml', '--key', 'ed25519.pem', '--approver', 'bob', '--commit', 'HEAD'], /--commit SHA is required: 7-64 lowercase hex/],
      [['approve', '-f', 'deployment.yaml', ...SIGN, '--ttl', 'forever'], /--ttl "forever" is not a duration/],
      [['approve', '-f', 'deployment.yaml', ...SIGN, '--kind', 'statefulset'], /no StatefulSet to approve: it has Deployment\/web/],
      [['approve', '-f', 'deployment.yaml', ...SIGN, '-n', 'team-b'], /is in namespace team-a, not team-b/],
      [['approve', '-f', 'deployment.yaml', ...SIGN, '--bind', 'labels'], /--bind must be template or images/],
      [['verify', '--jwks', 'approval.jwks.json', 'vectors/ed25519-template.jws'], /--object FILE is required/],
    ];
    for (const [args, want] of cases) {
      const r = await cli(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.err}`);
      assert.match(r.err, want);
    }
    const unnamed = await cli(['approve', '-f', '-', ...SIGN], 'apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: a, image: a}]}\n');
    assert.match(unnamed.err, /the Pod\/p names no namespace: pass -n NAMESPACE/);
    assert.equal((await cli(['approve', '-f', '-', ...SIGN, '-n', 'team-a'], 'apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: a, image: a}]}\n')).code, 0);
  });

  it('prints the public JWKS of the signing key, which the gate accepts as trusted keys', async () => {
    const r = await cli(['approve', '--key', 'p256.pem', '--kid', 'ec-1', '--print-jwks']);
    assert.equal(r.code, 0, r.err);
    const printed = JSON.parse(r.out) as { keys: Record<string, unknown>[] };
    const listed = (JSON.parse(readFileSync(join(fixtures, 'approval.jwks.json'), 'utf8')) as { keys: Record<string, unknown>[] }).keys[1]!;
    assert.deepEqual([printed.keys[0]!.x, printed.keys[0]!.y, printed.keys[0]!.kid], [listed.x, listed.y, 'ec-1']);
  });

  it('never shows a key file\'s text when it cannot use it', async () => {
    const r = await cli(['approve', '-f', 'deployment.yaml', ...SIGN.slice(2), '--key', 'rsa-ci.pem']);
    assert.equal(r.code, 2);
    assert.equal(r.err, 'tracegate approve: --key rsa-ci.pem holds a key of type rsa: approvals are signed with Ed25519 or ECDSA P-256\n');
  });
});

describe('tracegate approve on a live object', () => {
  let server: TestApiServer;
  let kubeconfig: string;
  before(async () => {
    server = await startTestApiServer({ controller: false });
    kubeconfig = await server.kubeconfig(tmp);
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfig);
    const api = KubernetesObjectApi.makeApiClient(kc);
    await api.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-a' } });
    await api.create(parse(readFileSync(join(fixtures, 'deployment.yaml'), 'utf8')));
  });
  after(async () => {
    await server.close();
  });

  it('signs the admitted object with the manifest\'s digest, and --annotate patches only the annotation', async () => {
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfig);
    const api = KubernetesObjectApi.makeApiClient(kc);
    const ref = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'team-a' } };
    const before = JSON.parse(JSON.stringify(await api.read(ref)));
    assert.equal(before.spec.template.spec.dnsPolicy, 'ClusterFirst', 'the server defaulted the template');
    const r = await cli(['approve', 'team-a/web', ...SIGN, '--kubeconfig', kubeconfig, '--annotate', '-o', 'json']);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.err, 'annotated deployment team-a/web with tracegate.io/approval\n');
    const doc = JSON.parse(r.out) as { annotation: Record<string, string>; claims: { tracegate: { template: string } } };
    assert.equal(doc.claims.tracegate.template, '046c1c31876b8ff974c7bb2efa2765f0e85dee740f4835cd9def8da49894b741');
    const live = JSON.parse(JSON.stringify(await api.read(ref)));
    assert.equal(live.metadata.annotations['tracegate.io/approval'], doc.annotation['tracegate.io/approval']);
    assert.deepEqual(live.spec, before.spec);
    writeFileSync(join(tmp, 'live.json'), JSON.stringify(live));
    const verify = await cli(['verify', '--jwks', 'approval.jwks.json', '--tenant', 'team-a', '--object', join(tmp, 'live.json')]);
    assert.equal(verify.code, 0, verify.err);
    const verifyManifest = await cli(['verify', '--jwks', 'approval.jwks.json', '--object', 'deployment.yaml', doc.annotation['tracegate.io/approval']!]);
    assert.equal(verifyManifest.code, 0, verifyManifest.err);
  });

  it('says in one line when the live object does not exist', async () => {
    const r = await cli(['approve', 'team-a/nope', ...SIGN, '--kubeconfig', kubeconfig]);
    assert.equal(r.code, 1);
    assert.match(r.err, /^tracegate approve: get deployment team-a\/nope failed \(HTTP 404\)/);
  });
});
