/**
 * Helm's Secret storage driver (`pkg/storage/driver/secrets.go`, `HELM_DRIVER=secret`, Helm's default)
 * over client-node: one Secret per revision, found by the labels `name=<release>,owner=helm`.
 * Differences from Helm, on purpose: undecodable records are reported through `onSkip` instead of
 * vanishing silently, `update` keeps `createdAt` when an earlier read saw it (Helm drops it after `Get`),
 * and deleting a revision that is already gone succeeds (Helm's pruning may race ours).
 */
import type { CoreV1Api } from '@kubernetes/client-node';
import { TracegateError } from '../errors.js';
import { kubeApiError, statusOf } from '../kube/api-error.js';
import { fromSecret, MAX_RELEASE_JSON_BYTES, READER_MAX_RELEASE_JSON_BYTES, releaseSecretName, toSecret, type SecretLike } from './codec.js';
import type { HelmRelease } from './release.js';
import { ReleaseCorruptError, ReleaseExistsError, ReleaseReadLimitError, type ReleaseStorage, type SkippedRecord, type StoredRelease } from './storage.js';

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
  /**
   * A reader's limits (the web view, `tracegate report`; see {@link READER_LIMITS}). Without them the
   * driver reads as the recorder always has: one list, each record capped at 64 MiB inflated.
   */
  limits?: ReadLimits;
}

/** How much a reader decodes: per record, per `history()` call, and Secrets per list page. */
export interface ReadLimits {
  /** One record inflates to at most this many bytes; a larger one is skipped (`onSkip`), `get` refuses it. */
  maxRecordBytes: number;
  /** All records of one `history()` call inflate to at most this; beyond it {@link ReleaseReadLimitError}. */
  maxHistoryBytes: number;
  /** Secrets per list request (list with limit/continue). */
  pageSize: number;
}

/**
 * The readers' limits. 8 MiB per record (codec.ts's reader cap); 32 MiB per history: Helm keeps 10
 * revisions by default (`--history-max`), and a real release's records inflate to well under 1 MiB
 * each, so 32 MiB holds any sane history while a page view can no longer be made to hold 10 × 64 MiB.
 * 10 Secrets per page: at most ~14 MB of wire JSON (1 MiB of data each, base64 again) held at once.
 */
export const READER_LIMITS: Readonly<ReadLimits> = Object.freeze({ maxRecordBytes: READER_MAX_RELEASE_JSON_BYTES, maxHistoryBytes: 32 * 1024 * 1024, pageSize: 10 });

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

  const recordCap = deps.limits?.maxRecordBytes ?? MAX_RELEASE_JSON_BYTES;

  function stored(secret: SecretLike & { metadata?: { resourceVersion?: string } | null }, cap: number): { rec: StoredRelease; bytes: number } | { error: string; tooLarge?: true } {
    const decoded = fromSecret(secret, { maxJsonBytes: cap });
    if (!decoded.ok) return decoded;
    const out: StoredRelease = { release: decoded.value.release, labels: decoded.value.labels };
    const rv = secret.metadata?.resourceVersion;
    if (rv) out.resourceVersion = rv;
    return { rec: out, bytes: decoded.jsonBytes };
  }

  type SecretList = Awaited<ReturnType<SecretCore['listNamespacedSecret']>>;

  async function list(namespace: string, labelSelector: string, cont: string | undefined): Promise<SecretList> {
    const limits = deps.limits;
    try {
      return await core.listNamespacedSecret({ namespace, labelSelector, ...(limits ? { limit: limits.pageSize } : {}), ...(cont ? { _continue: cont } : {}) });
    } catch (err) {
      throw apiError('list', namespace, `?labelSelector=${labelSelector}`, err);
    }
  }

  return {
    name: 'secret',

    async history(namespace, release) {
      const labelSelector = `name=${release},owner=helm`;
      const budget = deps.limits?.maxHistoryBytes ?? Infinity;
      const out: StoredRelease[] = [];
      const remembered: [HelmRelease, Record<string, string> | null | undefined][] = [];
      let used = 0;
      let cont: string | undefined;
      do {
        const page = await list(namespace, labelSelector, cont);
        for (const secret of page.items ?? []) {
          // The cap of this record: its own, or what is left of the budget when that is less (at least
          // one byte: zlib refuses a zero maxOutputLength, and any record is more than nothing).
          const cap = Math.max(1, Math.min(recordCap, budget - used));
          const got = stored(secret, cap);
          if ('error' in got) {
            if (got.tooLarge && cap < recordCap) throw new ReleaseReadLimitError(namespace, release, budget);
            deps.onSkip?.({ namespace, key: secret.metadata?.name ?? '(unnamed)', error: got.error });
            continue;
          }
          used += got.bytes;
          remembered.push([got.rec.release, secret.metadata?.labels]);
          out.push(got.rec);
        }
        cont = page.metadata?._continue || undefined;
      } while (cont !== undefined);
      // Remembered only once the whole history was read: a refused read leaves the map as it was.
      createdAt.delete(releaseKey(namespace, release));
      for (const [rel, labels] of remembered) remember(namespace, rel, labels);
      return out.sort((a, b) => a.release.version - b.release.version);
    },

    async get(namespace, release, version) {
      const name = releaseSecretName(release, version);
      let secret;
      if (deps.limits) {
        // Readers hold `list secrets` only (what `helm history` needs; the view's RBAC): the one
        // revision by the driver's labels, the Secret's name checked as Helm's Get would name it.
        const page = await list(namespace, `name=${release},owner=helm,version=${version}`, undefined);
        secret = (page.items ?? []).find((s) => s.metadata?.name === name);
        if (!secret) return undefined;
      } else {
        try {
          secret = await core.readNamespacedSecret({ name, namespace });
        } catch (err) {
          if (statusOf(err) === NOT_FOUND) return undefined;
          throw apiError('read', namespace, name, err);
        }
      }
      const got = stored(secret, recordCap);
      if ('error' in got) {
        if (got.tooLarge && deps.limits) throw new ReleaseReadLimitError(namespace, release, recordCap);
        throw new ReleaseCorruptError(namespace, name, got.error);
      }
      remember(namespace, got.rec.release, secret.metadata?.labels);
      return got.rec;
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
