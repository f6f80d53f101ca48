/**
 * `tracegate record`'s configuration: defaults ← environment ← flags, validated once with ajv and
 * frozen, as the gate's (src/config.ts) — a bad value is one CONFIG_INVALID line naming it.
 */
import { Ajv } from 'ajv';
import { TracegateError } from '../errors.js';
import { DEFAULT_ANNOTATION_PREFIX } from '../policy/defaults.js';
import { parseGoDuration } from '../server/timeout.js';

export interface RecordCommandConfig {
  kubeconfig?: string;
  /** Namespaces to watch; empty: all. */
  namespaces: string[];
  historyMax: number;
  leaseNamespace: string;
  leaseName: string;
  identity: string;
  metricsPort: number;
  annotationPrefix: string;
  provenanceKeyDir?: string;
  /** Finish `helm rollback`s that did not land exactly (see src/rollback/repair.ts). */
  restoreRollbacks: boolean;
  /** Seconds between full background audit passes; 0: no audit (see src/audit). */
  auditIntervalSeconds: number;
  /** Policy files or directories the audit judges against (empty: the bundled set), as the gate's --policies. */
  policies: string[];
  /** Where the audit's policies come from, as the gate's --policy-source: files, cluster (TracegatePolicy objects, live) or both. */
  policySource: 'files' | 'cluster' | 'both';
  /** Namespace label naming the tenant, and a pattern over namespace names: as the gate's. */
  tenantLabel: string;
  namespacePattern?: string;
  logLevel: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
  /** Present with --rotate-certs: the leader issues and renews the gate's certificates (src/recorder/cert-rotation.ts). */
  certs?: Readonly<RecordCertsConfig>;
}

/** What --rotate-certs rotates, and how often it looks. */
export interface RecordCertsConfig {
  /** The Secret the gate mounts; the CA key goes to `<tlsSecret>-ca`. Both in the Lease namespace. */
  tlsSecret: string;
  /** Name of the Mutating- and ValidatingWebhookConfiguration whose caBundles are written. */
  webhookConfiguration: string;
  /** Seconds between certificate checks. */
  checkIntervalSeconds: number;
}

/** What `--help` promises when a flag is left out (identity and the Lease namespace come from the pod). */
export const RECORD_DEFAULTS = Object.freeze({
  namespaces: [] as string[],
  // Like helm's default: every record embeds the whole chart, and a release's history is read whole.
  historyMax: 10,
  leaseNamespace: 'tracegate',
  leaseName: 'tracegate-recorder',
  metricsPort: 8080,
  annotationPrefix: DEFAULT_ANNOTATION_PREFIX,
  restoreRollbacks: true,
  // Hourly: a full pass lists every workload; changes in between are audited as the watch sees them.
  auditIntervalSeconds: 3600,
  policies: [] as string[],
  policySource: 'files' as const,
  tenantLabel: `${DEFAULT_ANNOTATION_PREFIX}tenant`,
  logLevel: 'info' as const,
});

/** What `--help` promises for the --rotate-certs flags (the chart's names). */
export const RECORD_CERTS_DEFAULTS = Object.freeze({
  tlsSecret: 'tracegate-tls',
  webhookConfiguration: 'tracegate',
  // 5 minutes: renewal starts 30 days (CA: 90) before an end, so expiry never needs it; a caBundle wiped by
  // `kubectl replace` or `helm upgrade --force` fails every review until the next check. A check is 4 GETs.
  checkIntervalSeconds: 300,
});

const DNS_LABEL = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
const DNS_SUBDOMAIN = '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$';

const schema = {
  type: 'object',
  additionalProperties: false,
  required: ['namespaces', 'historyMax', 'leaseNamespace', 'leaseName', 'identity', 'metricsPort', 'annotationPrefix', 'restoreRollbacks', 'auditIntervalSeconds', 'policies', 'policySource', 'tenantLabel', 'logLevel'],
  properties: {
    kubeconfig: { type: 'string', minLength: 1 },
    namespaces: { type: 'array', items: { type: 'string', pattern: DNS_LABEL, maxLength: 63 } },
    historyMax: { type: 'integer', minimum: 0 },
    leaseNamespace: { type: 'string', pattern: DNS_LABEL, maxLength: 63 },
    leaseName: { type: 'string', pattern: DNS_SUBDOMAIN, maxLength: 253 },
    // A Lease holder identity is free text (a pod name, a host name), bounded so it stays readable.
    identity: { type: 'string', minLength: 1, maxLength: 253 },
    metricsPort: { type: 'integer', minimum: 0, maximum: 65535 },
    annotationPrefix: { type: 'string', pattern: '^([a-z0-9]([-a-z0-9]*[a-z0-9])?\\.)+[a-z]{2,}/$' },
    provenanceKeyDir: { type: 'string', minLength: 1 },
    restoreRollbacks: { type: 'boolean' },
    auditIntervalSeconds: { type: 'integer', minimum: 0 },
    policies: { type: 'array', items: { type: 'string', minLength: 1 } },
    policySource: { enum: ['files', 'cluster', 'both'] },
    tenantLabel: { type: 'string', minLength: 1, maxLength: 317 },
    namespacePattern: { type: 'string', minLength: 1 },
    logLevel: { enum: ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] },
    certs: {
      type: 'object',
      additionalProperties: false,
      required: ['tlsSecret', 'webhookConfiguration', 'checkIntervalSeconds'],
      properties: {
        // 250: room for the "-ca" suffix of the CA Secret within a Secret name's 253.
        tlsSecret: { type: 'string', pattern: DNS_SUBDOMAIN, maxLength: 250 },
        webhookConfiguration: { type: 'string', pattern: DNS_SUBDOMAIN, maxLength: 253 },
        // At least a minute: each check reads two Secrets and two configurations; more often buys nothing.
        checkIntervalSeconds: { type: 'integer', minimum: 60 },
      },
    },
  },
} as const;

const validate = new Ajv({ allErrors: true, strict: true }).compile(schema);

/** Boolean flags arrive as text: true/false become booleans, anything else stays text for ajv to refuse. */
function bool(value: string | undefined): boolean | string | undefined {
  return value === 'true' ? true : value === 'false' ? false : value;
}

/** Numeric flags arrive as text: whole numbers become numbers, anything else stays text for ajv to refuse. */
function int(value: string | undefined): number | string | undefined {
  return value !== undefined && /^\d+$/.test(value) ? Number(value) : value;
}

/** A Go duration (`1h`, `30m`, `90s`, `0`) as whole seconds; anything else stays text for ajv to refuse. */
function seconds(value: string | undefined): number | string | undefined {
  if (value === undefined || value === '0') return value === '0' ? 0 : undefined;
  const ms = parseGoDuration(value);
  return ms !== undefined && Number.isInteger(ms / 1000) ? ms / 1000 : value;
}

/** The flags and environment a `tracegate record` process got. */
export interface RecordInputs {
  flags: Partial<Record<'kubeconfig' | 'historyMax' | 'leaseNamespace' | 'leaseName' | 'identity' | 'metricsPort' | 'annotationPrefix' | 'provenanceKeyDir' | 'restoreRollbacks' | 'auditInterval' | 'policySource' | 'tenantLabel' | 'namespacePattern' | 'logLevel' | 'tlsSecret' | 'webhookConfiguration' | 'certCheckInterval', string>> & { namespaces?: string[]; policies?: string[]; rotateCerts?: boolean };
  env: Readonly<Record<string, string | undefined>>;
  hostname: string;
}

/** Merges defaults, environment and flags; throws CONFIG_INVALID listing every problem. */
export function buildRecordConfig(inputs: RecordInputs): Readonly<RecordCommandConfig> {
  const { flags, env } = inputs;
  const merged: Record<string, unknown> = {
    ...RECORD_DEFAULTS,
    namespaces: flags.namespaces ?? [],
    leaseNamespace: flags.leaseNamespace ?? env.POD_NAMESPACE ?? RECORD_DEFAULTS.leaseNamespace,
    leaseName: flags.leaseName ?? RECORD_DEFAULTS.leaseName,
    identity: flags.identity ?? env.POD_NAME ?? inputs.hostname,
    historyMax: int(flags.historyMax) ?? RECORD_DEFAULTS.historyMax,
    metricsPort: int(flags.metricsPort) ?? RECORD_DEFAULTS.metricsPort,
    annotationPrefix: flags.annotationPrefix ?? RECORD_DEFAULTS.annotationPrefix,
    restoreRollbacks: bool(flags.restoreRollbacks) ?? RECORD_DEFAULTS.restoreRollbacks,
    auditIntervalSeconds: seconds(flags.auditInterval ?? env.TRACEGATE_AUDIT_INTERVAL) ?? RECORD_DEFAULTS.auditIntervalSeconds,
    policies: flags.policies ?? (env.TRACEGATE_POLICIES ? env.TRACEGATE_POLICIES.split(',').filter(Boolean) : []),
    policySource: flags.policySource ?? env.TRACEGATE_POLICY_SOURCE ?? RECORD_DEFAULTS.policySource,
    tenantLabel: flags.tenantLabel ?? env.TRACEGATE_TENANT_LABEL ?? RECORD_DEFAULTS.tenantLabel,
    logLevel: flags.logLevel ?? env.TRACEGATE_LOG_LEVEL ?? RECORD_DEFAULTS.logLevel,
  };
  const certFlags = (['tlsSecret', 'webhookConfiguration', 'certCheckInterval'] as const).filter((f) => flags[f] !== undefined);
  if (flags.rotateCerts === true) {
    merged.certs = {
      tlsSecret: flags.tlsSecret ?? RECORD_CERTS_DEFAULTS.tlsSecret,
      webhookConfiguration: flags.webhookConfiguration ?? RECORD_CERTS_DEFAULTS.webhookConfiguration,
      checkIntervalSeconds: seconds(flags.certCheckInterval) ?? RECORD_CERTS_DEFAULTS.checkIntervalSeconds,
    };
  } else if (certFlags.length > 0) {
    // A certificate flag without --rotate-certs would silently do nothing: say so instead.
    throw new TracegateError('CONFIG_INVALID', `invalid configuration: ${certFlags.join(', ')} only apply with --rotate-certs`, { problems: certFlags });
  }
  const kubeconfig = flags.kubeconfig;
  const keys = flags.provenanceKeyDir ?? env.TRACEGATE_PROVENANCE_KEYS;
  if (kubeconfig !== undefined) merged.kubeconfig = kubeconfig;
  if (keys !== undefined && keys !== '') merged.provenanceKeyDir = keys;
  const pattern = flags.namespacePattern ?? env.TRACEGATE_NAMESPACE_PATTERN;
  if (pattern !== undefined && pattern !== '') merged.namespacePattern = pattern;
  if (!validate(merged)) {
    const problems = (validate.errors ?? []).map((e) => `${e.instancePath.slice(1).replace(/\//g, '.') || 'config'}: ${e.message}`);
    throw new TracegateError('CONFIG_INVALID', `invalid configuration: ${problems.join('; ')}`, { problems });
  }
  if (typeof merged.namespacePattern === 'string') {
    try {
      new RegExp(merged.namespacePattern);
    } catch (err) {
      throw new TracegateError('CONFIG_INVALID', `invalid configuration: namespacePattern is not a regular expression: ${(err as Error).message}`, { problems: ['namespacePattern'] });
    }
  }
  if (merged.certs !== undefined) Object.freeze(merged.certs);
  return Object.freeze({ ...(merged as unknown as RecordCommandConfig), namespaces: Object.freeze([...(merged.namespaces as string[])]) as string[], policies: Object.freeze([...(merged.policies as string[])]) as string[] });
}
