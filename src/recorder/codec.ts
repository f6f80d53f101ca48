/**
 * Helm's release record codec (`pkg/storage/driver/util.go`, `secrets.go`), byte-compatible with what
 * Helm 3 and Helm 4 read: JSON → gzip (best compression) → base64 = S, stored as `Secret.data.release`.
 * On the JSON wire Secret data is base64 again, so `data.release` here is base64(S) ("SDRzSUFB…").
 * Pure: no I/O; decoders return {@link Parsed} and never throw on stored data.
 */
import { createHash } from 'node:crypto';
import { constants as zlibConstants, gunzipSync, gzipSync } from 'node:zlib';
import { TracegateError, type Parsed } from '../errors.js';
import { isRecord } from '../k8s/types.js';
import type { HelmRelease } from './release.js';

/** `Secret.type` Helm always writes (and never checks on read). */
export const RELEASE_SECRET_TYPE = 'helm.sh/release.v1';

/** Helm's storage key prefix (`HelmStorageType`); Secret names are `<prefix>.<release>.v<revision>`. */
export const RELEASE_KEY_PREFIX = 'sh.helm.release.v1';

/** Labels the driver owns; anything else on a release Secret is a custom release label. */
export const SYSTEM_LABELS = ['name', 'owner', 'status', 'version', 'createdAt', 'modifiedAt'] as const;

/** The apiserver's `MaxSecretSize`: the summed bytes of all data values of one Secret. */
export const MAX_SECRET_DATA_BYTES = 1024 * 1024;

/**
 * The recorder's cap on one inflated record: a ≤1 MiB record of JSON inflates ~10×; anything far beyond
 * that is a gzip bomb, not a release. Readers that show records to people pass a much smaller cap
 * ({@link READER_MAX_RELEASE_JSON_BYTES}).
 */
export const MAX_RELEASE_JSON_BYTES = 64 * 1024 * 1024;
/**
 * The cap for readers (the web view, `tracegate report`): any tenant can write a record Secret in their
 * own namespace, and a page view must not inflate 64 MiB per record; 8 MiB is still 8× the largest
 * record a real chart's ~1 MiB of compressed JSON ever inflates to in practice.
 */
export const READER_MAX_RELEASE_JSON_BYTES = 8 * 1024 * 1024;
// Label values are DNS-label sized (apimachinery `LabelValueMaxLength`).
const LABEL_VALUE_MAX = 63;
// A label-key prefix is a DNS subdomain (`DNS1123SubdomainMaxLength`).
const LABEL_PREFIX_MAX = 253;
// 40 bits of sha256: distinct long provenance values practically never collide.
const LABEL_HASH_CHARS = 10;
// Helm's release-name limit (`releaseNameMaxLen`), so that derived object names stay valid.
const RELEASE_NAME_MAX = 53;

const RELEASE_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

// Go's json.Marshal writes struct fields in declaration order; unknown keys follow in their own order.
const RELEASE_KEY_ORDER = ['name', 'info', 'chart', 'config', 'manifest', 'hooks', 'version', 'namespace', 'apply_method'];
const INFO_KEY_ORDER = ['first_deployed', 'last_deployed', 'deleted', 'description', 'status', 'notes'];
const CHART_KEY_ORDER = ['metadata', 'lock', 'templates', 'values', 'schema', 'schemamodtime', 'files', 'modtime'];

/** Thrown by {@link toSecret} when the record would exceed the apiserver's 1 MiB Secret limit. */
export class ReleaseTooLargeError extends TracegateError {
  readonly size: number;
  readonly limit: number;
  readonly secretName: string;

  constructor(secretName: string, size: number, limit: number) {
    super(
      'RELEASE_TOO_LARGE',
      `release record ${secretName} is ${size} bytes after compression, over the ${limit}-byte Secret limit; ` +
        'prune history or shrink the chart/manifest',
      { secretName, size, limit },
    );
    this.name = 'ReleaseTooLargeError';
    this.secretName = secretName;
    this.size = size;
    this.limit = limit;
  }
}

/** A release Secret as sent on the JSON wire; assignable to client-node's `V1Secret`. */
export interface ReleaseSecret {
  apiVersion: 'v1';
  kind: 'Secret';
  metadata: { name: string; namespace?: string; labels: Record<string, string> };
  type: typeof RELEASE_SECRET_TYPE;
  /** `release` is base64(S): the Secret's own base64 layer over Helm's base64(gzip(JSON)). */
  data: { release: string };
}

/** The parts of a Secret {@link fromSecret} reads; client-node's `V1Secret` fits. */
export interface SecretLike {
  metadata?: { name?: string; labels?: Record<string, string> | null } | null;
  data?: Record<string, string> | null;
}

/** A decoded release Secret. */
export interface DecodedSecret {
  release: HelmRelease;
  /** Custom release labels (what Helm's `Get` hands back as `release.Labels`). */
  labels: Record<string, string>;
  /** The driver's labels present on the Secret: name, owner, status, version, createdAt, modifiedAt. */
  systemLabels: Record<string, string>;
}

/** A decoded record and the bytes of JSON it inflated to; a failure says whether the cap refused it. */
export type Decoded<T> = { ok: true; value: T; jsonBytes: number } | { ok: false; error: string; tooLarge?: true };

/** Limits of {@link decodeRelease} and {@link fromSecret}. */
export interface DecodeLimits {
  /** The most bytes one record may inflate to (default {@link MAX_RELEASE_JSON_BYTES}). */
  maxJsonBytes?: number;
}

/** Options of {@link toSecret}. */
export interface ToSecretOptions {
  /** Custom release labels; keys that collide with {@link SYSTEM_LABELS} are ignored, as in Helm. */
  labels?: Record<string, string>;
  /** Becomes the `createdAt` label (unix seconds), as Helm's `Create` sets it. */
  createdAt?: Date;
  /** Becomes the `modifiedAt` label (unix seconds), as Helm's `Update` sets it. */
  modifiedAt?: Date;
}

/** `sh.helm.release.v1.<release>.v<version>`: the Secret name, ConfigMap name and SQL key of a revision. */
export function releaseSecretName(name: string, version: number): string {
  return `${RELEASE_KEY_PREFIX}.${name}.v${version}`;
}

function ordered(obj: Record<string, unknown>, order: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of order) if (obj[key] !== undefined) out[key] = obj[key];
  for (const [key, value] of Object.entries(obj)) if (!order.includes(key)) out[key] = value;
  return out;
}

/**
 * S = base64(gzip-9(JSON(release))), the value Helm keeps in `Secret.data.release` (before the Secret's
 * own base64), `ConfigMap.data.release` and the SQL `body` column. Keys are written in Helm's order,
 * unknown keys after them; values (times included) are written exactly as given.
 */
export function encodeRelease(rel: HelmRelease): string {
  const view = ordered(rel, RELEASE_KEY_ORDER);
  if (isRecord(view.info)) view.info = ordered(view.info, INFO_KEY_ORDER);
  if (isRecord(view.chart)) view.chart = ordered(view.chart, CHART_KEY_ORDER);
  const json = Buffer.from(JSON.stringify(view), 'utf8');
  return gzipSync(json, { level: zlibConstants.Z_BEST_COMPRESSION }).toString('base64');
}

function base64Bytes(text: string): Buffer | undefined {
  // Go's StdEncoding skips CR/LF but is otherwise strict; Buffer.from alone would accept garbage.
  const clean = text.replace(/[\r\n]/g, '');
  if (clean.length === 0 || clean.length % 4 !== 0 || !BASE64.test(clean)) return undefined;
  return Buffer.from(clean, 'base64');
}

function checkRelease(value: unknown): Parsed<HelmRelease> {
  if (!isRecord(value)) return { ok: false, error: 'release JSON is not an object' };
  if (typeof value.name !== 'string') return { ok: false, error: 'release has no string "name"' };
  if (!Number.isSafeInteger(value.version) || (value.version as number) < 1) {
    return { ok: false, error: `release "${value.name}" has no positive integer "version"` };
  }
  if (!isRecord(value.info)) return { ok: false, error: `release "${value.name}" has no "info" object` };
  if (value.info.status !== undefined && typeof value.info.status !== 'string') {
    return { ok: false, error: `release "${value.name}" has a non-string info.status` };
  }
  for (const key of ['manifest', 'namespace'] as const) {
    if (value[key] !== undefined && typeof value[key] !== 'string') {
      return { ok: false, error: `release "${value.name}" has a non-string "${key}"` };
    }
  }
  if (value.chart != null && !isRecord(value.chart)) return { ok: false, error: `release "${value.name}" has a non-object "chart"` };
  if (value.config != null && !isRecord(value.config)) return { ok: false, error: `release "${value.name}" has a non-object "config"` };
  if (value.hooks != null && !Array.isArray(value.hooks)) return { ok: false, error: `release "${value.name}" has a non-array "hooks"` };
  return { ok: true, value: value as HelmRelease };
}

/**
 * Decodes S as Helm does: base64, gunzip only when the bytes start with the gzip magic `1f 8b 08`
 * (older records are plain JSON), then JSON. Any gzip header (Go's or Node's) is accepted.
 */
export function decodeRelease(s: string, limits: DecodeLimits = {}): Decoded<HelmRelease> {
  if (typeof s !== 'string') return { ok: false, error: 'release data is not a string' };
  const max = limits.maxJsonBytes ?? MAX_RELEASE_JSON_BYTES;
  const bytes = base64Bytes(s);
  if (!bytes) return { ok: false, error: 'release data is not valid base64' };
  let json: Buffer = bytes;
  if (bytes.length >= 3 && bytes[0] === 0x1f && bytes[1] === 0x8b && bytes[2] === 0x08) {
    try {
      // maxOutputLength stops inflating at the cap: a bomb never holds more than `max` bytes.
      json = gunzipSync(bytes, { maxOutputLength: max });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') return { ok: false, error: `release data inflates to more than ${max} bytes`, tooLarge: true };
      return { ok: false, error: `release data is not valid gzip: ${(err as Error).message}` };
    }
  } else if (bytes.length > max) {
    return { ok: false, error: `release data is more than ${max} bytes`, tooLarge: true };
  }
  let value: unknown;
  try {
    value = JSON.parse(json.toString('utf8'));
  } catch (err) {
    return { ok: false, error: `release data is not valid JSON: ${(err as Error).message}` };
  }
  const checked = checkRelease(value);
  return checked.ok ? { ok: true, value: checked.value, jsonBytes: json.length } : checked;
}

/** True for a valid label value: empty, or ≤ 63 of `[A-Za-z0-9-_.]` starting and ending alphanumeric. */
export function isValidLabelValue(value: string): boolean {
  return value === '' || (value.length <= LABEL_VALUE_MAX && LABEL_NAME.test(value));
}

/** True for a valid label key: `[prefix/]name`, prefix a DNS subdomain. */
export function isValidLabelKey(key: string): boolean {
  const slash = key.lastIndexOf('/');
  const name = slash < 0 ? key : key.slice(slash + 1);
  if (name.length > LABEL_VALUE_MAX || !LABEL_NAME.test(name)) return false;
  if (slash < 0) return true;
  const prefix = key.slice(0, slash);
  return prefix.length <= LABEL_PREFIX_MAX && DNS_SUBDOMAIN.test(prefix);
}

/**
 * Turns free text (a user name, a commit message, an approver's e-mail) into a valid label value:
 * accents folded, runs of other characters become `-`, ends trimmed to alphanumerics. Longer than
 * 63 characters, it keeps a prefix and appends a hash of the whole text, so distinct values stay distinct.
 */
export function toLabelValue(text: string): string {
  const folded = text.normalize('NFKD').replace(/[\u0300-\u036f]/g, '');
  const value = folded
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '')
    .replace(/[^A-Za-z0-9]+$/, '');
  if (value.length <= LABEL_VALUE_MAX) return value;
  const hash = createHash('sha256').update(text, 'utf8').digest('hex').slice(0, LABEL_HASH_CHARS);
  const head = value.slice(0, LABEL_VALUE_MAX - LABEL_HASH_CHARS - 1).replace(/[^A-Za-z0-9]+$/, '');
  return head ? `${head}-${hash}` : hash;
}

function unixSeconds(date: Date): string {
  return String(Math.floor(date.getTime() / 1000));
}

/**
 * The Secret Helm's Secret driver would write for `rel` (POST/PUT body). Throws RELEASE_INVALID on a
 * release Helm could not read back (bad name or version, no status, no chart — `helm get all` panics
 * without one) or on an invalid custom label, and {@link ReleaseTooLargeError} above 1 MiB.
 */
export function toSecret(rel: HelmRelease, opts: ToSecretOptions = {}): ReleaseSecret {
  if (typeof rel.name !== 'string' || rel.name.length > RELEASE_NAME_MAX || !RELEASE_NAME.test(rel.name)) {
    throw new TracegateError('RELEASE_INVALID', `invalid Helm release name ${JSON.stringify(rel.name)}`);
  }
  if (!Number.isSafeInteger(rel.version) || rel.version < 1) {
    throw new TracegateError('RELEASE_INVALID', `release ${rel.name}: version must be a positive integer, got ${String(rel.version)}`);
  }
  const status = rel.info?.status;
  if (typeof status !== 'string' || status === '') throw new TracegateError('RELEASE_INVALID', `release ${rel.name}: info.status is required`);
  if (!isRecord(rel.chart)) throw new TracegateError('RELEASE_INVALID', `release ${rel.name}: chart is required (helm get all crashes without it)`);

  const name = releaseSecretName(rel.name, rel.version);
  const custom: Record<string, string> = {};
  for (const [key, value] of Object.entries(opts.labels ?? {})) {
    if ((SYSTEM_LABELS as readonly string[]).includes(key)) continue;
    if (!isValidLabelKey(key)) throw new TracegateError('RELEASE_INVALID', `release ${rel.name}: invalid label key ${JSON.stringify(key)}`);
    if (typeof value !== 'string' || !isValidLabelValue(value)) {
      throw new TracegateError('RELEASE_INVALID', `release ${rel.name}: invalid value for label ${key}: ${JSON.stringify(value)} (use toLabelValue)`);
    }
    custom[key] = value;
  }
  const labels: Record<string, string> = { ...custom, name: rel.name, owner: 'helm', status, version: String(rel.version) };
  if (opts.createdAt) labels.createdAt = unixSeconds(opts.createdAt);
  if (opts.modifiedAt) labels.modifiedAt = unixSeconds(opts.modifiedAt);

  const s = encodeRelease(rel);
  if (s.length > MAX_SECRET_DATA_BYTES) throw new ReleaseTooLargeError(name, s.length, MAX_SECRET_DATA_BYTES);
  const metadata: ReleaseSecret['metadata'] = { name, labels };
  if (rel.namespace) metadata.namespace = rel.namespace;
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata,
    type: RELEASE_SECRET_TYPE,
    data: { release: Buffer.from(s, 'latin1').toString('base64') },
  };
}

/**
 * Reads a release Secret as it comes off the JSON wire (`data.release` = base64(S)), splitting its
 * labels into custom and system ones. A `data.release` that is S itself ("H4sI…" or "eyJ…") means the
 * Secret's own base64 layer was lost on the way and is reported as such.
 */
export function fromSecret(secret: SecretLike, limits: DecodeLimits = {}): Decoded<DecodedSecret> {
  const what = `Secret ${secret.metadata?.name ?? '(unnamed)'}`;
  const raw = secret.data?.release;
  if (typeof raw !== 'string') return { ok: false, error: `${what} has no data.release` };
  if (raw.startsWith('H4sI') || raw.startsWith('eyJ')) {
    return { ok: false, error: `${what}: data.release is single base64 (starts ${raw.slice(0, 4)}): the Secret's own base64 layer is missing` };
  }
  const outer = base64Bytes(raw);
  if (!outer) return { ok: false, error: `${what}: data.release is not valid base64` };
  const decoded = decodeRelease(outer.toString('latin1'), limits);
  if (!decoded.ok) return { ok: false, error: `${what}: ${decoded.error}`, ...(decoded.tooLarge ? { tooLarge: true as const } : {}) };
  const labels: Record<string, string> = {};
  const systemLabels: Record<string, string> = {};
  for (const [key, value] of Object.entries(secret.metadata?.labels ?? {})) {
    if ((SYSTEM_LABELS as readonly string[]).includes(key)) systemLabels[key] = value;
    else labels[key] = value;
  }
  return { ok: true, value: { release: decoded.value, labels, systemLabels }, jsonBytes: decoded.jsonBytes };
}
