/**
 * Bearer-token authentication for the test API server: each (user, groups, audiences) gets its own
 * random token, so tests act as different people just by using different kubeconfigs.
 * - A `system:serviceaccount:<ns>:<name>` user also gets `system:serviceaccounts` and
 *   `system:serviceaccounts:<ns>` (`serviceaccount.MakeGroupNames`, what the service account token
 *   authenticator sets); every authenticated user gets `system:authenticated` (the group adder).
 * - Tokens are audience-agnostic by default, like a static token file (`audagnostic`: valid for the API
 *   audiences); a token issued for `audiences` only authenticates where those are accepted — a
 *   TokenReview asking for them — never against the API itself unless they include an API audience.
 * - No token is `system:anonymous` (`system:unauthenticated`) — what RBAC then authorizes; a token the
 *   server does not know is a 401 whatever the path.
 * - Impersonation headers (`Impersonate-User`, `-Group`, `-Uid`) are parsed here and authorized by the
 *   server (impersonation.ts).
 */
import { randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { serviceAccountGroups, splitServiceAccount } from './rbac-rules.js';
import type { UserInfo } from './types.js';

/** What authentication made of a request. */
export type Authentication = { kind: 'user'; user: UserInfo } | { kind: 'anonymous' } | { kind: 'invalid' };

/** A token's identity as a TokenReview reports it. */
export interface TokenIdentity {
  user: UserInfo;
  /** The audiences the token was found valid for. */
  audiences: string[];
}

/** Maps tokens to users. */
export interface Authenticator {
  /** A token for this identity (the same one on every call for the same user, groups and audiences). */
  tokenFor(user: string, groups: string[], audiences?: string[]): string;
  /**
   * The requestor behind the request's bearer token. `pathToken` is the token from a `/u/<token>` URL
   * prefix: client-go never sends bearer tokens over plain HTTP, so kubeconfigs for an HTTP server carry
   * the identity in the server URL instead.
   */
  authenticate(headers: IncomingHttpHeaders, pathToken: string | undefined): Authentication;
  /** A TokenReview's authentication of `token` for `audiences` (the API audiences when empty). */
  review(token: string, audiences: readonly string[]): TokenIdentity | undefined;
}

/** Splits a `/u/<token>` prefix off a request path. */
export function splitPathToken(pathname: string): { token: string | undefined; path: string } {
  const m = /^\/u\/([^/]+)(\/.*)?$/.exec(pathname);
  if (m === null) return { token: undefined, path: pathname };
  return { token: m[1], path: m[2] ?? '/' };
}

/** Every authenticated request carries this group, as in kube-apiserver. */
export const AUTHENTICATED = 'system:authenticated';
/** `user.Anonymous` with `user.AllUnauthenticated`. */
export const ANONYMOUS_USER: UserInfo = { username: 'system:anonymous', groups: ['system:unauthenticated'] };
/**
 * The API audiences: kube-apiserver's `--api-audiences` defaults to `--service-account-issuer`, which
 * kubeadm sets to this.
 */
export const DEFAULT_API_AUDIENCES = ['https://kubernetes.default.svc.cluster.local'];
/** 24 random bytes: unguessable and short enough for a header. */
const TOKEN_BYTES = 24;

/** The groups an authenticated `username` ends up with: its own, service account groups, `system:authenticated`. */
export function authenticatedGroups(username: string, groups: readonly string[]): string[] {
  const sa = splitServiceAccount(username);
  const all = [...(sa === undefined ? [] : serviceAccountGroups(sa[0])), ...groups, AUTHENTICATED];
  return [...new Set(all)];
}

interface Issued {
  user: UserInfo;
  /** `undefined`: audience-agnostic. */
  audiences: string[] | undefined;
}

/** Creates an authenticator with no tokens yet, accepting `apiAudiences` for API requests. */
export function createAuthenticator(apiAudiences: readonly string[] = DEFAULT_API_AUDIENCES): Authenticator {
  const byToken = new Map<string, Issued>();
  const byIdentity = new Map<string, string>();
  const intersect = (a: readonly string[], b: readonly string[]): string[] => a.filter((x) => b.includes(x));

  /** `authenticator.AudiencesFrom` + `audagnostic`: which of `wanted` the token is valid for. */
  function validFor(issued: Issued, wanted: readonly string[]): string[] {
    return intersect(wanted, issued.audiences ?? apiAudiences);
  }

  return {
    tokenFor(user, groups, audiences) {
      const identity = JSON.stringify([user, [...groups].sort(), audiences === undefined ? null : [...audiences].sort()]);
      const existing = byIdentity.get(identity);
      if (existing !== undefined) return existing;
      const token = `tg-test-${randomBytes(TOKEN_BYTES).toString('hex')}`;
      byIdentity.set(identity, token);
      byToken.set(token, { user: { username: user, groups: authenticatedGroups(user, groups) }, audiences: audiences === undefined ? undefined : [...audiences] });
      return token;
    },
    authenticate(headers, pathToken) {
      const auth = headers['authorization'];
      const match = typeof auth === 'string' ? /^Bearer\s+(\S+)$/i.exec(auth) : null;
      const token = match?.[1] ?? pathToken;
      if (token === undefined) return { kind: 'anonymous' };
      const issued = byToken.get(token);
      if (issued === undefined || validFor(issued, apiAudiences).length === 0) return { kind: 'invalid' };
      return { kind: 'user', user: { username: issued.user.username, groups: [...issued.user.groups] } };
    },
    review(token, audiences) {
      const issued = byToken.get(token);
      if (issued === undefined) return undefined;
      const valid = validFor(issued, audiences.length === 0 ? apiAudiences : audiences);
      if (valid.length === 0) return undefined;
      return { user: { username: issued.user.username, groups: [...issued.user.groups] }, audiences: valid };
    },
  };
}
