/**
 * The gate's configuration: defaults ← environment (TRACEGATE_*) ← command-line flags, validated once
 * with ajv and frozen. Everything downstream receives this object and never reads env or argv itself.
 */
import { Ajv } from 'ajv';
import { TracegateError } from './errors.js';
import { DEFAULT_ANNOTATION_PREFIX } from './policy/defaults.js';

export interface GateConfig {
  port: number;
  host: string;
  /** Serving certificate and key; when absent a development CA and certificate are issued into devCertDir. */
  tlsCertFile?: string;
  tlsKeyFile?: string;
  /** CA the webhook configurations trust: a renewed serving certificate must chain to it. */
  tlsCaFile?: string;
  devCertDir: string;
  tlsMinVersion: 'TLSv1.2' | 'TLSv1.3';
  /** How often certificate files are checked for renewal (Secret volumes swap files by symlink; polling sees it). */
  certReloadIntervalMs: number;
  policies: string[];
  /**
   * Where policies come from: `files` (policies, or the bundled ones; read once at start), `cluster`
   * (TracegatePolicy objects, watched and applied live) or `both` (the files always apply, the objects add to them).
   */
  policySource: 'files' | 'cluster' | 'both';
  annotationPrefix: string;
  tenantLabel: string;
  namespacePattern?: string;
  namespacesFile?: string;
  /** `cluster`: namespace informer; `file`: namespacesFile; `none`: pattern only; `auto`: cluster when in a pod or given a kubeconfig. */
  tenancy: 'auto' | 'cluster' | 'file' | 'none';
  kubeconfig?: string;
  /** The Service the apiserver calls, for the development certificate's names. */
  serviceName: string;
  serviceNamespace: string;
  bodyLimitBytes: number;
  /**
   * Bytes all in-flight request bodies may hold together; past it a review is answered 429 (Retry-After)
   * without reading its body, so stalled uploads cannot exhaust the container's memory. Absent: a
   * quarter of the cgroup memory limit (64 MiB without one), never less than bodyLimitBytes.
   */
  maxBufferedBodyBytes?: number;
  /**
   * After bodyRateGraceMs, every further second of a body must bring this many bytes or the review is
   * answered 408 and its connection closed (a trickling upload would hold its reservation); 0 disables.
   */
  minBodyBytesPerSecond: number;
  /** How long a body may take before the rate floor applies (covers a slow start: TCP ramp-up, a GC pause). */
  bodyRateGraceMs: number;
  /** Upper bound on a review's processing when the apiserver's ?timeout= is absent or larger. */
  maxRequestTimeoutMs: number;
  /** After SIGTERM: keep serving while endpoints are withdrawn, then drain for at most shutdownGraceMs. */
  shutdownDelayMs: number;
  shutdownGraceMs: number;
  logLevel: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
  /**
   * Directory of the provenance MAC keys shared with the recorder (a mounted Secret: `<id>.key` files and
   * `current`). Without it, outside a pod, a development key is kept in `<devCertDir>/provenance`.
   */
  provenanceKeyDir?: string;
  /**
   * Trusted approval keys: one JWKS file (every tenant trusts it) or a directory of `<tenant>.jwks.json`
   * files (`_shared.jwks.json` for every tenant). Without it, approvals on objects are not verified.
   */
  approvalKeys?: string;
  /** CI issuers whose OIDC ID tokens count as proof of commit (YAML/JSON, see src/approval/trust-files.ts). */
  ciIssuers?: string;
  /** This cluster's name: accepted as an approval's audience, and required by its cluster claim. */
  clusterName?: string;
}

/** An object and an old object of 3 MiB each (the apiserver's request cap) plus the review envelope. */
const DEFAULT_BODY_LIMIT = 7 * 1024 * 1024;

export const CONFIG_DEFAULTS: Readonly<GateConfig> = Object.freeze({
  port: 8443,
  host: '0.0.0.0',
  devCertDir: 'certs',
  tlsMinVersion: 'TLSv1.2',
  certReloadIntervalMs: 10_000,
  policies: [],
  policySource: 'files',
  annotationPrefix: DEFAULT_ANNOTATION_PREFIX,
  tenantLabel: `${DEFAULT_ANNOTATION_PREFIX}tenant`,
  tenancy: 'auto',
  serviceName: 'tracegate',
  serviceNamespace: 'tracegate',
  bodyLimitBytes: DEFAULT_BODY_LIMIT,
  // One TLS record a second: the apiserver writes a whole body at LAN speed, a client below this is stalling.
  minBodyBytesPerSecond: 16 * 1024,
  // Twice the initial TCP retransmission timeout (1 s): one lost segment never trips the floor.
  bodyRateGraceMs: 2_000,
  // The apiserver's own default webhook timeout; its ?timeout= is usually shorter.
  maxRequestTimeoutMs: 10_000,
  shutdownDelayMs: 5_000,
  shutdownGraceMs: 20_000,
  logLevel: 'info',
});

const schema = {
  type: 'object',
  additionalProperties: false,
  required: Object.keys(CONFIG_DEFAULTS),
  properties: {
    port: { type: 'integer', minimum: 0, maximum: 65535 },
    host: { type: 'string', minLength: 1 },
    tlsCertFile: { type: 'string', minLength: 1 },
    tlsKeyFile: { type: 'string', minLength: 1 },
    tlsCaFile: { type: 'string', minLength: 1 },
    devCertDir: { type: 'string', minLength: 1 },
    tlsMinVersion: { enum: ['TLSv1.2', 'TLSv1.3'] },
    certReloadIntervalMs: { type: 'integer', minimum: 100 },
    policies: { type: 'array', items: { type: 'string', minLength: 1 } },
    policySource: { enum: ['files', 'cluster', 'both'] },
    annotationPrefix: { type: 'string', pattern: '^([a-z0-9]([-a-z0-9]*[a-z0-9])?\\.)+[a-z]{2,}/$' },
    tenantLabel: { type: 'string', minLength: 1, maxLength: 317 },
    namespacePattern: { type: 'string', minLength: 1 },
    namespacesFile: { type: 'string', minLength: 1 },
    tenancy: { enum: ['auto', 'cluster', 'file', 'none'] },
    kubeconfig: { type: 'string', minLength: 1 },
    serviceName: { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' },
    serviceNamespace: { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' },
    bodyLimitBytes: { type: 'integer', minimum: 1024 },
    maxBufferedBodyBytes: { type: 'integer', minimum: 1024 },
    minBodyBytesPerSecond: { type: 'integer', minimum: 0 },
    bodyRateGraceMs: { type: 'integer', minimum: 0, maximum: 30_000 },
    maxRequestTimeoutMs: { type: 'integer', minimum: 100, maximum: 30_000 },
    shutdownDelayMs: { type: 'integer', minimum: 0 },
    shutdownGraceMs: { type: 'integer', minimum: 0 },
    logLevel: { enum: ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] },
    provenanceKeyDir: { type: 'string', minLength: 1 },
    approvalKeys: { type: 'string', minLength: 1 },
    ciIssuers: { type: 'string', minLength: 1 },
    // A DNS label, as cluster names in kubeconfigs and the approvals' `aud` are written.
    clusterName: { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$' },
  },
} as const;

const validate = new Ajv({ allErrors: true, strict: true }).compile(schema);

/** Environment variables the gate reads, each mapped to a config key. */
export const ENV_KEYS: Readonly<Record<string, keyof GateConfig>> = {
  TRACEGATE_PORT: 'port',
  TRACEGATE_HOST: 'host',
  TRACEGATE_TLS_CERT: 'tlsCertFile',
  TRACEGATE_TLS_KEY: 'tlsKeyFile',
  TRACEGATE_TLS_CA: 'tlsCaFile',
  TRACEGATE_CERT_DIR: 'devCertDir',
  TRACEGATE_POLICIES: 'policies',
  TRACEGATE_POLICY_SOURCE: 'policySource',
  TRACEGATE_ANNOTATION_PREFIX: 'annotationPrefix',
  TRACEGATE_TENANT_LABEL: 'tenantLabel',
  TRACEGATE_NAMESPACE_PATTERN: 'namespacePattern',
  TRACEGATE_NAMESPACES_FILE: 'namespacesFile',
  TRACEGATE_TENANCY: 'tenancy',
  TRACEGATE_SERVICE_NAME: 'serviceName',
  TRACEGATE_SERVICE_NAMESPACE: 'serviceNamespace',
  TRACEGATE_LOG_LEVEL: 'logLevel',
  TRACEGATE_PROVENANCE_KEYS: 'provenanceKeyDir',
  TRACEGATE_APPROVAL_KEYS: 'approvalKeys',
  TRACEGATE_CI_ISSUERS: 'ciIssuers',
  TRACEGATE_CLUSTER_NAME: 'clusterName',
  TRACEGATE_MAX_BUFFERED_BODY_BYTES: 'maxBufferedBodyBytes',
  TRACEGATE_MIN_BODY_BYTES_PER_SECOND: 'minBodyBytesPerSecond',
  TRACEGATE_BODY_RATE_GRACE_MS: 'bodyRateGraceMs',
};

const NUMERIC: ReadonlySet<string> = new Set([
  'port',
  'certReloadIntervalMs',
  'bodyLimitBytes',
  'maxBufferedBodyBytes',
  'minBodyBytesPerSecond',
  'bodyRateGraceMs',
  'maxRequestTimeoutMs',
  'shutdownDelayMs',
  'shutdownGraceMs',
]);

function coerce(key: string, value: string): unknown {
  if (NUMERIC.has(key)) return /^\d+$/.test(value) ? Number(value) : value;
  if (key === 'policies') return value.split(',').map((s) => s.trim()).filter(Boolean);
  return value;
}

/** Merges defaults, environment and overrides; throws CONFIG_INVALID listing every problem. */
export function buildConfig(env: Readonly<Record<string, string | undefined>>, overrides: Partial<Record<keyof GateConfig, unknown>>): Readonly<GateConfig> {
  const merged: Record<string, unknown> = { ...CONFIG_DEFAULTS, policies: [...CONFIG_DEFAULTS.policies] };
  for (const [name, key] of Object.entries(ENV_KEYS)) {
    const v = env[name];
    if (v !== undefined && v !== '') merged[key] = coerce(key, v);
  }
  for (const [key, v] of Object.entries(overrides)) if (v !== undefined) merged[key] = typeof v === 'string' ? coerce(key, v) : v;
  if (!validate(merged)) {
    const problems = (validate.errors ?? []).map((e) => `${e.instancePath.slice(1) || (e.params as { additionalProperty?: string }).additionalProperty || 'config'}: ${e.message}`);
    throw new TracegateError('CONFIG_INVALID', `invalid configuration:\n  ${problems.join('\n  ')}`, { problems });
  }
  if ((merged.tlsCertFile === undefined) !== (merged.tlsKeyFile === undefined)) {
    throw new TracegateError('CONFIG_INVALID', 'invalid configuration: set both the TLS certificate and key files, or neither (to use development certificates)');
  }
  if (typeof merged.namespacePattern === 'string') {
    try {
      new RegExp(merged.namespacePattern);
    } catch (err) {
      throw new TracegateError('CONFIG_INVALID', `invalid configuration: namespacePattern is not a regular expression: ${(err as Error).message}`);
    }
  }
  if (typeof merged.maxBufferedBodyBytes === 'number' && merged.maxBufferedBodyBytes < (merged.bodyLimitBytes as number)) {
    throw new TracegateError('CONFIG_INVALID', `invalid configuration: maxBufferedBodyBytes (${merged.maxBufferedBodyBytes}) must be at least bodyLimitBytes (${merged.bodyLimitBytes}), or the largest review could never be read`);
  }
  if (merged.policySource === 'cluster' && (merged.policies as string[]).length > 0) {
    throw new TracegateError('CONFIG_INVALID', 'invalid configuration: policy files are not read with policySource "cluster"; use "both" to apply them together with the cluster\'s TracegatePolicy objects');
  }
  if (merged.tenancy === 'file' && merged.namespacesFile === undefined) {
    throw new TracegateError('CONFIG_INVALID', 'invalid configuration: tenancy "file" needs a namespaces file (--namespaces-file)');
  }
  return Object.freeze({ ...(merged as unknown as GateConfig), policies: Object.freeze([...(merged.policies as string[])]) as string[] });
}
