/**
 * Where release records live. Helm has three drivers (Secret, ConfigMap, SQL) with one record format;
 * the recorder talks to this interface so the others can be added behind it without touching it.
 */
import { TracegateError } from '../errors.js';
import type { HelmRelease } from './release.js';

/** A record as read back from storage. */
export interface StoredRelease {
  release: HelmRelease;
  /** Custom release labels only; the driver's own labels (name, owner, status, …) are stripped. */
  labels: Record<string, string>;
  /** The storage object's resourceVersion, when the driver has one. */
  resourceVersion?: string;
}

/** The operations of Helm's `driver.Driver` the recorder needs, with Helm's semantics. */
export interface ReleaseStorage {
  readonly name: 'secret' | 'configmap' | 'sql';
  /** Every decodable revision of `release` in `namespace`, sorted by version ascending. */
  history(namespace: string, release: string): Promise<StoredRelease[]>;
  /** One revision; undefined when it does not exist. */
  get(namespace: string, release: string, version: number): Promise<StoredRelease | undefined>;
  /** Writes a new revision; throws {@link ReleaseExistsError} when it already exists (Helm's lock). */
  create(rel: HelmRelease, labels: Record<string, string>): Promise<void>;
  /** Rewrites an existing revision unconditionally (no resourceVersion precondition), like Helm. */
  update(rel: HelmRelease, labels: Record<string, string>): Promise<void>;
  /** Removes a revision; removing one that is already gone is not an error. */
  delete(namespace: string, release: string, version: number): Promise<void>;
}

/** The revision already exists: someone (usually Helm itself) wrote it first. Re-read and decide again. */
export class ReleaseExistsError extends Error {
  readonly namespace: string;
  readonly release: string;
  readonly version: number;

  constructor(namespace: string, release: string, version: number, options?: ErrorOptions) {
    super(`release ${namespace}/${release} revision ${version} already exists`, options);
    this.name = 'ReleaseExistsError';
    this.namespace = namespace;
    this.release = release;
    this.version = version;
  }
}

/** A stored revision exists but cannot be decoded (Helm would hide it from `helm history`). */
export class ReleaseCorruptError extends TracegateError {
  readonly namespace: string;
  readonly key: string;

  constructor(namespace: string, key: string, reason: string) {
    super('RELEASE_CORRUPT', `release record ${namespace}/${key} cannot be decoded: ${reason}`, { namespace, key });
    this.name = 'ReleaseCorruptError';
    this.namespace = namespace;
    this.key = key;
  }
}

/** What a driver reports about a record it skipped while listing. */
export interface SkippedRecord {
  namespace: string;
  /** Storage key, e.g. the Secret name `sh.helm.release.v1.web.v3`. */
  key: string;
  error: string;
}

/**
 * A reader's limit refused release records: together they inflate past the bytes one read may hold
 * (records any tenant can write in their own namespace can be gzip bombs). The web view answers 413,
 * the CLI one line; nothing partial is shown.
 */
export class ReleaseReadLimitError extends TracegateError {
  readonly namespace: string;
  readonly release: string;
  readonly limit: number;

  constructor(namespace: string, release: string, limit: number) {
    super('RELEASE_TOO_LARGE', `the release records of ${namespace}/${release} inflate to more than ${limit} bytes, more than one read may hold; prune the release's history (helm --history-max) or read with --trail-only`, { namespace, release, limit });
    this.name = 'ReleaseReadLimitError';
    this.namespace = namespace;
    this.release = release;
    this.limit = limit;
  }
}
