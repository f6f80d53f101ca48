/**
 * Helm's Secret storage driver (`pkg/storage/driver/secrets.go`, `HELM_DRIVER=secret`, Helm's default)
 * over client-node: one Secret per revision, found by the labels `name=<release>,owner=helm`.
 * Differences from Helm, on purpose: undecodable records are reported through `onSkip` instead of
 * vanishing silently, `update` keeps `createdAt` when an earlier read saw it (Helm drops it after `Get`),
 * and deleting a revision that is already gone succeeds (Helm's pruning may race ours).
 */
import type { CoreV1Api } from '@kubernetes/client-node';
import { TracegateError } from '../errors.js';
import { isRecord } from '../k8s/types.js';
import { kubeApiError, statusOf } from '../kube/api-error.js';
import { fromSecret, releaseSecretName, toSecret, type SecretLike } from './codec.js';
import type { HelmRelease } from './release.js';
import { ReleaseCorruptError, ReleaseExistsError, type ReleaseStorage, type SkippedRecord, type StoredRelease } from './storage.js';

/** The Secret calls the driver makes; a real `CoreV1Api` or a test fake. */
export type SecretCore = Pick<
  CoreV1Api,
  'listNamespacedSecret' | 'readNamespacedSecret' | 'createNamespacedSecret' | 'replaceNamespacedSecret' | 'deleteNamespacedSecret'
>;

/** Dependencies of {@link createSecretDriver}. */
export interface SecretDriverDeps {
  core: SecretCore;
  /** Clock for the `createdAt` / `modifiedAt` labels. */
  now?: () => Date;
  /** Told about every record `history` skips because it cannot be decoded. */
  onSkip?: (skipped: SkippedRecord) => void;
}

// HTTP statuses the driver gives a meaning to; everything else is a KUBE_API error.
const NOT_FOUND = 404;
const CONFLICT = 409;

function apiError(op: string, namespace: string, name: string, err: unknown): TracegateError {
  return kubeApiError(op, `Secret ${namespace}/${name}`, err);
}

function namespaceOf(rel: HelmRelease): string {
  if (!rel.namespace) throw new TracegateError('RELEASE_INVALID', `release ${rel.name} v${rel.version} has no namespace`);
  return rel.namespace;
}

/** Helm's Secret driver as a {@link ReleaseStorage}. */
export function createSecretDriver(deps: SecretDriverDeps): ReleaseStorage {
  const { core } = deps;
  const now = deps.now ?? (() => new Date());
  // createdAt label per release and version, from earlier reads, so update can keep it; bounded by
  // the Secrets that exist because history() replaces a release's entries wholesale.
  const createdAt = new Map<string, Map<number, string>>();
  const releaseKey = (namespace: string, release: string): string => `${namespace}/${release}`;

  function remember(namespace: string, rel: HelmRelease, labels: Record<string, string> | null | undefined): void {
    const at = labels?.createdAt;
    const key = releaseKey(namespace, rel.name);
    if (at === undefined) {
      createdAt.get(key)?.delete(rel.version);
      return;
    }
    let versions = createdAt.get(key);
    if (!versions) createdAt.set(key, (versions = new Map()));
    versions.set(rel.version, at);
  }

  function stored(secret: SecretLike & { metadata?: { resourceVersion?: string } | null }): StoredRelease | { error: string } {
    const decoded = fromSecret(secret);
    if (!decoded.ok) return { error: decoded.error };
    const out: StoredRelease = { release: decoded.value.release, labels: decoded.value.labels };
    const rv = secret.metadata?.resourceVersion;
    if (rv) out.resourceVersion = rv;
    return out;
  }

  return {
    name: 'secret',

    async history(namespace, release) {
      const labelSelector = `name=${release},owner=helm`;
      let list;
      try {
        list = await core.listNamespacedSecret({ namespace, labelSelector });
      } catch (err) {
        throw apiError('list', namespace, `?labelSelector=${labelSelector}`, err);
      }
      const out: StoredRelease[] = [];
      createdAt.delete(releaseKey(namespace, release));
      for (const secret of list.items ?? []) {
        const rec = stored(secret);
        if ('error' in rec) {
          deps.onSkip?.({ namespace, key: secret.metadata?.name ?? '(unnamed)', error: rec.error });
          continue;
        }
        remember(namespace, rec.release, secret.metadata?.labels);
        out.push(rec);
      }
      return out.sort((a, b) => a.release.version - b.release.version);
    },

    async get(namespace, release, version) {
      const name = releaseSecretName(release, version);
      let secret;
      try {
        secret = await core.readNamespacedSecret({ name, namespace });
      } catch (err) {
        if (statusOf(err) === NOT_FOUND) return undefined;
        throw apiError('read', namespace, name, err);
      }
      const rec = stored(secret);
      if ('error' in rec) throw new ReleaseCorruptError(namespace, name, rec.error);
      remember(namespace, rec.release, secret.metadata?.labels);
      return rec;
    },

    async create(rel, labels) {
      const namespace = namespaceOf(rel);
      const body = toSecret(rel, { labels, createdAt: now() });
      try {
        await core.createNamespacedSecret({ namespace, body });
      } catch (err) {
        if (statusOf(err) === CONFLICT) throw new ReleaseExistsError(namespace, rel.name, rel.version, { cause: err });
        throw apiError('create', namespace, body.metadata.name, err);
      }
      remember(namespace, rel, body.metadata.labels);
    },

    async update(rel, labels) {
      const namespace = namespaceOf(rel);
      const body = toSecret(rel, { labels, modifiedAt: now() });
      const known = createdAt.get(releaseKey(namespace, rel.name))?.get(rel.version);
      if (known !== undefined) body.metadata.labels.createdAt = known;
      try {
        await core.replaceNamespacedSecret({ name: body.metadata.name, namespace, body });
      } catch (err) {
        throw apiError('replace', namespace, body.metadata.name, err);
      }
    },

    async delete(namespace, release, version) {
      const name = releaseSecretName(release, version);
      try {
        await core.deleteNamespacedSecret({ name, namespace });
      } catch (err) {
        if (statusOf(err) !== NOT_FOUND) throw apiError('delete', namespace, name, err);
      }
      createdAt.get(releaseKey(namespace, release))?.delete(version);
    },
  };
}
