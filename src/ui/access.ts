/**
 * What a user may see, asked of the cluster for every page (SubjectAccessReview through the cached
 * reviewer): a tenant's changes in the namespaces where they may `list changetrails.tracegate.io`;
 * anything read from Helm's release Secrets — Helm's statuses and revisions on the change rows, a
 * revision's manifest and diff — where they may also `get secrets`, what `helm history` and
 * `helm get manifest` need. An auditor bound
 * cluster-wide passes every check because the reviews say so; nothing here knows about auditors.
 */
import type { Permission, Reviewer, UserIdentity } from './reviews.js';

const TRAILS = { verb: 'list', group: 'tracegate.io', resource: 'changetrails' } as const;
const SECRETS = { verb: 'get', group: '', resource: 'secrets' } as const;

/** The page-level decisions. */
export interface Access {
  /** The namespaces of `namespaces` whose trails the user may read. */
  trailNamespaces(user: UserIdentity, namespaces: readonly string[]): Promise<string[]>;
  canReadTrails(user: UserIdentity, namespace: string): Promise<boolean>;
  /** Trails and the release Secrets: the exact manifests. */
  canReadManifests(user: UserIdentity, namespace: string): Promise<boolean>;
}

/** Decisions over a reviewer (pass the cached one). */
export function createAccess(reviewer: Reviewer): Access {
  const ask = (user: UserIdentity, p: Omit<Permission, 'namespace'>, namespace: string) => reviewer.allowed(user, { ...p, namespace });
  return {
    async trailNamespaces(user, namespaces) {
      if (namespaces.length === 0) return [];
      // A SubjectAccessReview with an empty namespace asks about "all" namespaces for a namespaced
      // resource (ResourceAttributes.namespace, authorization.k8s.io/v1 API reference): one review
      // settles it for a cluster-wide binding. Otherwise each namespace is asked on its own.
      if (await ask(user, TRAILS, '')) return [...namespaces];
      const answers = await Promise.all(namespaces.map((ns) => ask(user, TRAILS, ns)));
      return namespaces.filter((_, i) => answers[i]);
    },
    canReadTrails: (user, namespace) => ask(user, TRAILS, namespace),
    async canReadManifests(user, namespace) {
      return (await ask(user, TRAILS, namespace)) && (await ask(user, SECRETS, namespace));
    },
  };
}
