/**
 * CI OIDC ID tokens (GitHub Actions and GitLab CI claims, RS256 as both sign) made by openssl, verified
 * offline against a configured issuer: identity, tenant mapping, protected environments, refusals.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { before, describe, it } from 'node:test';
import { loadCiIssuers, type CiIssuers } from '../../src/approval/ci-issuers.js';
import { verifyCiToken } from '../../src/approval/verify-ci-token.js';

const dir = new URL('../fixtures/approval/', import.meta.url);
const vector = (name: string) => readFileSync(new URL(`vectors/${name}`, dir), 'utf8').trim();
const jwks = JSON.parse(readFileSync(new URL('ci.jwks.json', dir), 'utf8')) as unknown;

// The tokens' window: nbf 08:55, iat 09:00, exp 09:10 on 2026-12-01.
const AT = Date.parse('2026-12-01T09:05:00Z');
const SHA = '3f2a9c1d4e5b6a7980f1e2d3c4b5a6978e9f0a1b';

let issuers: CiIssuers;
before(async () => {
  issuers = await loadCiIssuers([
    { issuer: 'https://token.actions.githubusercontent.com', audience: 'tracegate', jwks, tenants: { 'team-a': ['repo:org/team-a-*'] }, protectedEnvironments: ['production'] },
    { issuer: 'https://gitlab.example.com', audience: 'tracegate', jwks, tenants: { 'team-a': ['group/team-a/*'] }, protectedEnvironments: ['Production'] },
  ]);
});

async function refused(token: string, tenant = 'team-a', now = AT, commit?: string): Promise<string> {
  const r = await verifyCiToken(token, { tenant, ...(commit ? { commit } : {}) }, issuers, now);
  assert.equal(r.ok, false, 'expected a refusal');
  return (r as { reason: string }).reason;
}

describe('verifyCiToken', () => {
  it('maps a GitHub Actions token to the identity, and a protected environment to the approval', async () => {
    const r = await verifyCiToken(vector('ci-github-production.jwt'), { tenant: 'team-a', commit: '3f2a9c1' }, issuers, AT);
    assert.ok(r.ok, JSON.stringify(r));
    assert.deepEqual(r.statement.identity, {
      provider: 'github-actions',
      issuer: 'https://token.actions.githubusercontent.com',
      subject: 'repo:org/team-a-api:environment:production',
      repository: 'org/team-a-api',
      commit: SHA,
      ref: 'refs/heads/main',
      run: '7421',
      workflow: 'deploy',
      environment: 'production',
      actor: 'octocat',
    });
    assert.deepEqual(r.statement.approval, { environment: 'production', approver: 'environment:production', actor: 'octocat' });
    assert.equal(r.statement.tenant, 'team-a');
  });

  it('maps a GitLab CI token the same way (environment names compared without case)', async () => {
    const r = await verifyCiToken(vector('ci-gitlab-production.jwt'), { tenant: 'team-a' }, issuers, AT);
    assert.ok(r.ok, JSON.stringify(r));
    const { identity, approval } = r.statement;
    assert.equal(identity.provider, 'gitlab-ci');
    assert.equal(identity.repository, 'group/team-a/api');
    assert.equal(identity.run, '912');
    assert.equal(identity.ref, 'main');
    assert.equal(identity.actor, 'alice');
    assert.equal(identity.workflow, undefined);
    assert.deepEqual(approval, { environment: 'production', approver: 'environment:production', actor: 'alice' });
  });

  it('proves commit and run but no approval from an unprotected environment', async () => {
    const r = await verifyCiToken(vector('ci-github-staging.jwt'), { tenant: 'team-a' }, issuers, AT);
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(r.statement.identity.environment, 'staging');
    assert.equal(r.statement.approval, undefined);
  });

  it('refuses a token from an issuer that is not configured, before any key is used', async () => {
    assert.equal(await refused(vector('ci-other-issuer.jwt')), 'CI token issuer https://token.evil.example is not trusted');
  });

  it('refuses another audience', async () => {
    assert.equal(await refused(vector('ci-wrong-audience.jwt')), 'CI token is for audience sigstore, not tracegate');
  });

  it('refuses a repository the tenant mapping does not allow', async () => {
    assert.equal(await refused(vector('ci-github-production.jwt'), 'team-b'), 'repository org/team-a-api may not deploy to tenant team-b');
  });

  it('refuses another commit than the object names, and an abbreviation shorter than 7', async () => {
    assert.equal(await refused(vector('ci-github-production.jwt'), 'team-a', AT, '8f2c1e7'), `CI token is for commit ${SHA}, not 8f2c1e7`);
    assert.equal(await refused(vector('ci-github-production.jwt'), 'team-a', AT, '3f2a'), `CI token is for commit ${SHA}, not 3f2a`);
  });

  it('refuses alg none and HS256 with the public key as secret', async () => {
    assert.equal(await refused(vector('ci-none.jwt')), 'alg none is not allowed');
    assert.equal(await refused(vector('ci-hs256.jwt')), 'alg HS256 is not allowed');
  });

  it('refuses an expired token and one not yet valid', async () => {
    assert.equal(await refused(vector('ci-github-production.jwt'), 'team-a', Date.parse('2026-12-01T09:11:00Z')), 'CI token expired at 2026-12-01T09:10:00Z');
    assert.equal(await refused(vector('ci-github-production.jwt'), 'team-a', Date.parse('2026-12-01T08:50:00Z')), 'CI token is not valid before 2026-12-01T08:55:00Z');
  });

  it('refuses an approval (its issuer is no CI issuer) and a tampered token', async () => {
    const approval = readFileSync(new URL('vectors/ed25519-template.jws', dir), 'utf8').trim();
    assert.equal(await refused(approval), 'CI token issuer openssl-vectors is not trusted');
    const [h, , s] = vector('ci-github-production.jwt').split('.');
    const forged = Buffer.from(JSON.stringify({ iss: 'https://token.actions.githubusercontent.com', aud: 'tracegate', repository: 'org/team-a-api', run_id: '1', sha: SHA, ref: 'refs/heads/main', environment: 'production', sub: 'x', iat: 1796115600, exp: 1796116200 })).toString('base64url');
    assert.equal(await refused(`${h}.${forged}.${s}`), 'signature does not verify');
  });
});
