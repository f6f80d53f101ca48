/**
 * The Helm release record (`helm.sh/release.v1`) as Helm 3 and Helm 4 serialise it, and pure helpers over
 * a release history. Every object type keeps an index signature: records are rewritten (status changes,
 * supersede), and keys this code does not know — e.g. Helm `main`'s `info.rollback_revision` — must survive.
 * Times stay the strings Helm wrote: a JS Date would drop Go's nanoseconds.
 */

/** Every status Helm 3 and 4 write (`pkg/release/common/status.go`), in Helm's order. */
export const RELEASE_STATUSES = [
  'unknown',
  'deployed',
  'uninstalled',
  'superseded',
  'failed',
  'uninstalling',
  'pending-install',
  'pending-upgrade',
  'pending-rollback',
] as const;

/** A status Helm knows; decoded records may still carry any string. */
export type ReleaseStatus = (typeof RELEASE_STATUSES)[number];

/** `release.info`: when, what and why. Times are RFC3339(Nano) strings, `""` when zero in Helm 3. */
export interface ReleaseInfo {
  first_deployed?: string;
  last_deployed?: string;
  /** Helm 3 always writes it (`""` unless uninstalled with --keep-history); Helm 4 omits it when zero. */
  deleted?: string;
  /** Shown as DESCRIPTION by `helm history` and by `helm status`. */
  description?: string;
  status?: ReleaseStatus | (string & {});
  /** Rendered NOTES.txt. */
  notes?: string;
  [key: string]: unknown;
}

/** Chart.yaml as stored in the release (`chart.metadata`); CHART / APP VERSION columns come from here. */
export interface ChartMetadata {
  name?: string;
  home?: string;
  sources?: string[];
  version?: string;
  description?: string;
  keywords?: string[];
  maintainers?: { name?: string; email?: string; url?: string; [key: string]: unknown }[];
  icon?: string;
  apiVersion?: string;
  condition?: string;
  tags?: string;
  appVersion?: string;
  deprecated?: boolean;
  annotations?: Record<string, string>;
  kubeVersion?: string;
  dependencies?: unknown[];
  type?: string;
  [key: string]: unknown;
}

/** A chart file: `data` is base64 of the file bytes; Helm 4 may add `modtime`. */
export interface ChartFile {
  name: string;
  data: string;
  modtime?: string;
  [key: string]: unknown;
}

/** Chart.lock. */
export interface ChartLock {
  generated?: string;
  digest?: string;
  dependencies?: unknown[];
  [key: string]: unknown;
}

/** The top-level chart only (subcharts are never serialised). Without it `helm get all` panics. */
export interface HelmChart {
  metadata?: ChartMetadata | null;
  lock?: ChartLock | null;
  templates?: ChartFile[] | null;
  /** The chart's default values.yaml. */
  values?: Record<string, unknown> | null;
  /** Base64 of values.schema.json. */
  schema?: string | null;
  /** Helm 4 only, written even when zero (`0001-01-01T00:00:00Z`). */
  schemamodtime?: string;
  files?: ChartFile[] | null;
  /** Helm 4 only, omitted when zero. */
  modtime?: string;
  [key: string]: unknown;
}

/** A release hook (`pkg/release/v1/hook.go`). */
export interface HelmHook {
  name?: string;
  kind?: string;
  path?: string;
  manifest?: string;
  events?: string[];
  last_run?: { started_at?: string; completed_at?: string; phase?: string; [key: string]: unknown };
  weight?: number;
  delete_policies?: string[];
  output_log_policies?: string[];
  [key: string]: unknown;
}

/** How Helm 4 applied the revision; missing or empty means client-side apply. Helm 3 drops it. */
export type ApplyMethod = 'csa' | 'ssa';

/**
 * One release revision as stored in `data.release`. Custom release labels are not part of the JSON
 * (Helm's `Labels` is `json:"-"`): they live on the Secret only.
 */
export interface HelmRelease {
  name: string;
  info: ReleaseInfo;
  chart?: HelmChart | null;
  /** User-supplied values of this revision; `helm upgrade` without value flags reuses them. */
  config?: Record<string, unknown> | null;
  /** Rendered non-hook manifests, each as `---\n# Source: <chart>/templates/<file>\n<yaml>\n`. */
  manifest?: string;
  hooks?: HelmHook[] | null;
  /** Revision ≥ 1; decides ordering and "latest", and names the Secret. */
  version: number;
  /** The release namespace (where the record lives), not necessarily the objects' namespace. */
  namespace?: string;
  apply_method?: ApplyMethod | (string & {});
  [key: string]: unknown;
}

/** True for the statuses Helm knows. */
export function isReleaseStatus(status: unknown): status is ReleaseStatus {
  return typeof status === 'string' && (RELEASE_STATUSES as readonly string[]).includes(status);
}

/**
 * True while Helm is mid-operation on the release (`pending-install|upgrade|rollback`): Helm refuses to
 * start another operation then, and a recorder must not write either.
 */
export function isPending(status: string | undefined): boolean {
  return typeof status === 'string' && status.startsWith('pending-');
}

/** The revision with the highest `version` (Helm's `Last()`), whatever its status; undefined when empty. */
export function latest<T extends HelmRelease>(releases: readonly T[]): T | undefined {
  let best: T | undefined;
  for (const r of releases) if (best === undefined || r.version > best.version) best = r;
  return best;
}

/**
 * The `deployed` revision. Helm keeps exactly one; should several exist (an interrupted supersede), the
 * highest version wins, as in Helm's `Deployed()`.
 */
export function deployedOf<T extends HelmRelease>(releases: readonly T[]): T | undefined {
  return latest(releases.filter((r) => r.info.status === 'deployed'));
}
