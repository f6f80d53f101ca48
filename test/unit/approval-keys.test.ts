/** Trusted approval keys and CI issuers: loaded with rigour, refused in one line, never echoing key material. */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { loadCiIssuers, repositoryGlob } from '../../src/approval/ci-issuers.js';
import { loadTrustedKeys } from '../../src/approval/keys.js';
import { isTracegateError } from '../../src/errors.js';

const dir = new URL('../fixtures/approval/', import.meta.url);
const json = (name: string) => JSON.parse(readFileSync(new URL(name, dir), 'utf8')) as { keys: Record<string, unknown>[] };
const approvalKeys = json('approval.jwks.json');
const [ed, ec] = approvalKeys.keys as [Record<string, unknown>, Record<string, unknown>];
const ciKeys = json('ci.jwks.json');

async function loadError(tenants: Record<string, unknown>): Promise<string> {
  try {
    await loadTrustedKeys({ tenants });
  } catch (err) {
    assert.ok(isTracegateError(err, 'APPROVAL_KEYS'), String(err));
    assert.doesNotMatch(err.message, /\n/);
    return err.message;
  }
  assert.fail('expected APPROVAL_KEYS');
}

describe('loadTrustedKeys', () => {
  it('loads Ed25519 and P-256 keys per tenant, with * trusted by every tenant', async () => {
    const keys = await loadTrustedKeys({ tenants: { 'team-a': { keys: [ed] }, '*': { keys: [ec] } } });
    assert.equal(keys.size, 2);
    assert.equal(keys.find('team-a', 'ed-1')?.alg, 'EdDSA');
    assert.equal(keys.find('team-a', 'ec-1')?.tenant, '*');
    assert.equal(keys.find('team-b', 'ec-1')?.alg, 'ES256');
    assert.equal(keys.find('team-b', 'ed-1'), undefined, "team-a's key is not team-b's");
    assert.equal(keys.find('team-a', 'constructor'), undefined);
    assert.ok(Object.isFrozen(keys));
    assert.deepEqual(keys.audiences, ['tracegate']);
    assert.equal(keys.maxLifetimeSeconds, 7 * 86400);
    const named = await loadTrustedKeys({ tenants: { 'team-a': approvalKeys }, cluster: 'prod-eu-1' });
    assert.deepEqual(named.audiences, ['tracegate', 'prod-eu-1']);
    assert.notEqual(named.id, keys.id);
  });

  it('refuses private key material in a JWKS, without showing it', async () => {
    const doc = json('approval-private.jwks.json');
    const message = await loadError({ 'team-a': doc });
    assert.equal(message, 'approval keys of tenant team-a: key ed-1 carries private key material (d): a trust file holds public keys only');
    assert.ok(!message.includes(String(doc.keys[0]!.d)));
    assert.match(await loadError({ 'team-a': { keys: [{ kty: 'oct', k: 'c2VjcmV0', kid: 'h1' }] } }), /key h1 carries private key material \(k\)/);
  });

  it('refuses RSA, Ed448 and P-384 keys for approvals', async () => {
    assert.equal(await loadError({ 'team-a': ciKeys }), 'approval keys of tenant team-a: key ci-1 has key type RSA, which is not allowed here (allowed: Ed25519, P-256)');
    assert.match(await loadError({ 'team-a': { keys: [{ ...ed, crv: 'Ed448' }] } }), /key ed-1 has kty OKP crv Ed448, which is not a key type allowed here/);
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey.export({ format: 'jwk' });
    assert.match(await loadError({ 'team-a': { keys: [{ ...p384, kid: 'p384' }] } }), /key p384 has kty EC crv P-384/);
  });

  it('refuses a missing or repeated kid, and a kid in both a tenant and *', async () => {
    const { kid: _kid, ...noKid } = ed;
    assert.match(await loadError({ 'team-a': { keys: [noKid] } }), /key 0 has no kid/);
    assert.match(await loadError({ 'team-a': { keys: [ed, { ...ec, kid: 'ed-1' }] } }), /key ed-1 appears twice/);
    assert.equal(await loadError({ 'team-a': { keys: [ed] }, '*': { keys: [ed] } }), 'approval keys: kid ed-1 is in both tenant team-a and * key sets');
  });

  it('refuses alg, use and key_ops that do not fit verification with the key', async () => {
    assert.match(await loadError({ 'team-a': { keys: [{ ...ed, alg: 'ES256' }] } }), /key ed-1 says alg ES256, but Ed25519 keys verify EdDSA here/);
    assert.match(await loadError({ 'team-a': { keys: [{ ...ed, use: 'enc' }] } }), /key ed-1 has use enc, not sig/);
    assert.match(await loadError({ 'team-a': { keys: [{ ...ed, key_ops: ['sign'] }] } }), /key ed-1 has key_ops without verify/);
  });

  it('refuses malformed key material: short coordinates, a point off the curve', async () => {
    assert.match(await loadError({ 'team-a': { keys: [{ ...ed, x: 'AAAA' }] } }), /key ed-1 has no valid x \(32 bytes, base64url\)/);
    const offCurve = { ...ec, y: Buffer.alloc(32, 1).toString('base64url') };
    assert.equal(await loadError({ 'team-a': { keys: [offCurve] } }), 'approval keys of tenant team-a: key ec-1 is not a valid P-256 public key');
  });

  it('refuses what is not a JWKS, and an empty configuration', async () => {
    assert.match(await loadError({ 'team-a': [] }), /not a JWKS/);
    assert.match(await loadError({ 'team-a': { keys: [] } }), /the JWKS has no keys/);
    assert.equal(await loadError({}), 'approval keys: no tenant has a JWKS');
  });
});

describe('loadCiIssuers', () => {
  const github = { issuer: 'https://token.actions.githubusercontent.com', audience: 'tracegate', jwks: ciKeys, tenants: { 'team-a': ['repo:org/team-a-*'] } };

  it('loads an issuer with RSA keys and maps repositories to tenants by glob', async () => {
    const issuers = await loadCiIssuers([github]);
    const gh = issuers.get(github.issuer)!;
    assert.equal(gh.keys[0]!.alg, 'RS256');
    assert.ok(gh.mayDeploy('org/team-a-api', 'team-a'));
    assert.ok(gh.mayDeploy('Org/Team-A-API', 'team-a'), 'GitHub paths ignore case');
    assert.ok(!gh.mayDeploy('org/team-b-api', 'team-a'));
    assert.ok(!gh.mayDeploy('org/team-a-api', 'team-b'));
    assert.ok(!gh.mayDeploy('org/team-a-x/evil', 'team-a'), '* stays within one path segment');
    assert.equal(issuers.get('https://token.evil.example'), undefined);
  });

  it('compiles repository globs literally apart from *', () => {
    assert.ok(repositoryGlob('group/sub.team/*').test('group/sub.team/api'));
    assert.ok(!repositoryGlob('group/sub.team/*').test('group/subxteam/api'));
    assert.ok(repositoryGlob('project_path:group/team-a/*').test('group/team-a/api'));
  });

  it('refuses unusable entries in one line', async () => {
    const fails = async (entry: unknown, want: RegExp) => {
      await assert.rejects(loadCiIssuers([entry]), (err: unknown) => isTracegateError(err, 'APPROVAL_KEYS') && want.test(err.message));
    };
    await fails({ ...github, issuer: 'http://insecure.example' }, /issuer must be an https URL/);
    await fails({ ...github, audience: '' }, /audience must be a non-empty string/);
    await fails({ ...github, tenants: { 'team-a': [] } }, /tenant team-a needs a list of repository globs/);
    await fails({ ...github, protectedEnvironments: 'production' }, /protectedEnvironments must be a list/);
    await fails({ ...github, jwks: json('approval-private.jwks.json') }, /carries private key material/);
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' });
    await fails({ ...github, jwks: { keys: [{ ...small, kid: 'old' }] } }, /key old is a 1024-bit RSA key: at least 2048 bits are required/);
    await assert.rejects(loadCiIssuers([github, github]), /configured twice/);
  });
});
