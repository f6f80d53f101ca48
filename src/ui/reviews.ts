/**
 * Who is asking and what they may see, decided by Kubernetes itself: TokenReview
 * (authentication.k8s.io/v1) turns a bearer token into a user, SubjectAccessReview
 * (authorization.k8s.io/v1) says whether that user may do a verb on a resource in a namespace. Both are
 * sent with the UI's own credentials (it needs `system:auth-delegator`). The API calls sit behind
 * {@link Reviewer} so unit tests pass a fake.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { kubeApiError } from '../kube/api-error.js';

/** The user a TokenReview returned: exactly what a SubjectAccessReview must be asked about. */
export interface UserIdentity {
  username: string;
  uid?: string;
  groups: string[];
  extra?: Record<string, string[]>;
}

/** One resource permission, as a SubjectAccessReview's resourceAttributes. */
export interface Permission {
  verb: string;
  group: string;
  resource: string;
  /** Empty: every namespace (a namespaced resource asked about cluster-wide). */
  namespace: string;
}

/** The two reviews. */
export interface Reviewer {
  /** The user behind a token; undefined when the token does not authenticate. */
  authenticate(token: string): Promise<UserIdentity | undefined>;
  /** Whether the user holds the permission. */
  allowed(user: UserIdentity, permission: Permission): Promise<boolean>;
}

/** The reviews over the cluster, with the UI's own credentials. */
export async function createKubeReviewer(kc: KubeConfig, audiences?: string[]): Promise<Reviewer> {
  // Imported here: the CLI's other commands never load client-node's API classes for this.
  const { AuthenticationV1Api, AuthorizationV1Api } = await import('@kubernetes/client-node');
  const authn = kc.makeApiClient(AuthenticationV1Api);
  const authz = kc.makeApiClient(AuthorizationV1Api);
  return {
    async authenticate(token) {
      let review;
      try {
        review = await authn.createTokenReview({ body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, ...(audiences?.length ? { audiences } : {}) } } });
      } catch (err) {
        // The message names the API call, never the token (client-node errors carry the response body only).
        throw kubeApiError('create', 'tokenreviews.authentication.k8s.io', err);
      }
      const status = review.status;
      if (!status?.authenticated || !status.user?.username) return undefined;
      // TokenReviewStatus.audiences (authentication.k8s.io/v1): a client that sets spec.audiences must
      // check one comes back, or an authenticator that ignores audiences would accept any token.
      if (audiences?.length && !status.audiences?.some((a) => audiences.includes(a))) return undefined;
      const u = status.user;
      return {
        username: u.username!,
        groups: u.groups ?? [],
        ...(u.uid ? { uid: u.uid } : {}),
        ...(u.extra && Object.keys(u.extra).length ? { extra: u.extra } : {}),
      };
    },
    async allowed(user, p) {
      let review;
      try {
        review = await authz.createSubjectAccessReview({
          body: {
            apiVersion: 'authorization.k8s.io/v1',
            kind: 'SubjectAccessReview',
            spec: {
              user: user.username,
              groups: user.groups,
              ...(user.uid ? { uid: user.uid } : {}),
              ...(user.extra ? { extra: user.extra } : {}),
              resourceAttributes: { verb: p.verb, group: p.group, resource: p.resource, ...(p.namespace ? { namespace: p.namespace } : {}) },
            },
          },
        });
      } catch (err) {
        throw kubeApiError('create', 'subjectaccessreviews.authorization.k8s.io', err);
      }
      return review.status?.allowed === true && review.status.denied !== true;
    },
  };
}

/** Settings of {@link createCachedReviewer}. */
export interface ReviewCacheOptions {
  ttlMs: number;
  maxEntries: number;
  now?: () => number;
}

/**
 * SubjectAccessReview answers cached per (user, groups, permission) for `ttlMs`, at most `maxEntries`
 * (the oldest dropped first): a page asks about every namespace of a tenant, and a reload should not
 * ask again. Authentication is never cached here (sessions re-check on their own schedule).
 */
export function createCachedReviewer(inner: Reviewer, opts: ReviewCacheOptions): Reviewer {
  const now = opts.now ?? Date.now;
  const cache = new Map<string, { allowed: boolean; at: number }>();
  return {
    authenticate: (token) => inner.authenticate(token),
    async allowed(user, p) {
      // JSON of the parts: no separator a username or group could forge.
      const key = JSON.stringify([user.username, user.uid ?? '', [...user.groups].sort(), user.extra ?? {}, p.verb, p.group, p.resource, p.namespace]);
      const t = now();
      const hit = cache.get(key);
      if (hit && t - hit.at < opts.ttlMs) return hit.allowed;
      if (hit) cache.delete(key);
      const allowed = await inner.allowed(user, p);
      while (cache.size >= opts.maxEntries) cache.delete(cache.keys().next().value!);
      cache.set(key, { allowed, at: t });
      return allowed;
    },
  };
}
