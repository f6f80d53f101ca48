/**
 * Bearer-token authentication for the test API server: each (user, groups) pair gets its own random
 * token, so tests act as different people just by using different kubeconfigs. Members of
 * `system:masters` may impersonate (`kubectl --as/--as-group`). There is no authorization: every
 * authenticated user may do everything.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { UserInfo } from './types.js';

/** Maps tokens to users. */
export interface Authenticator {
  /** A token for this identity (the same one on every call for the same user and groups). */
  tokenFor(user: string, groups: string[]): string;
  /**
   * The user behind the request's token (+ impersonation headers), or `undefined`. `pathToken` is the
   * token from a `/u/<token>` URL prefix: client-go never sends bearer tokens over plain HTTP, so
   * kubeconfigs for an HTTP server carry the identity in the server URL instead.
   */
  authenticate(headers: IncomingHttpHeaders, pathToken: string | undefined): UserInfo | undefined | 'forbidden-impersonation';
}

/** Splits a `/u/<token>` prefix off a request path. */
export function splitPathToken(pathname: string): { token: string | undefined; path: string } {
  const m = /^\/u\/([^/]+)(\/.*)?$/.exec(pathname);
  if (m === null) return { token: undefined, path: pathname };
  return { token: m[1], path: m[2] ?? '/' };
}

/** Every authenticated request carries this group, as in kube-apiserver. */
const AUTHENTICATED = 'system:authenticated';
/** 24 random bytes: unguessable and short enough for a header. */
const TOKEN_BYTES = 24;

function withAuthenticated(groups: string[]): string[] {
  return groups.includes(AUTHENTICATED) ? [...groups] : [...groups, AUTHENTICATED];
}

function headerList(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  return (Array.isArray(value) ? value : [value]).flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v !== '');
}

/** Creates an authenticator with no tokens yet. */
export function createAuthenticator(): Authenticator {
  const byToken = new Map<string, UserInfo>();
  const byIdentity = new Map<string, string>();
  return {
    tokenFor(user, groups) {
      const identity = JSON.stringify([user, [...groups].sort()]);
      const existing = byIdentity.get(identity);
      if (existing !== undefined) return existing;
      const token = `tg-test-${randomBytes(TOKEN_BYTES).toString('hex')}`;
      byIdentity.set(identity, token);
      byToken.set(token, { username: user, groups: withAuthenticated(groups) });
      return token;
    },
    authenticate(headers, pathToken) {
      const auth = headers['authorization'];
      const match = typeof auth === 'string' ? /^Bearer\s+(\S+)$/i.exec(auth) : null;
      const token = match?.[1] ?? pathToken;
      const user = token === undefined ? undefined : byToken.get(token);
      if (user === undefined) return undefined;
      const asUser = headers['impersonate-user'];
      if (typeof asUser !== 'string' || asUser === '') return { username: user.username, groups: [...user.groups] };
      if (!user.groups.includes('system:masters')) return 'forbidden-impersonation';
      return { username: asUser, groups: withAuthenticated(headerList(headers['impersonate-group'])) };
    },
  };
}
