/** The gate's Prometheus metrics, on a registry of its own (no prom-client global state). */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Admission latency buckets: the gate answers in well under a millisecond; the apiserver times out at seconds. */
const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/**
 * Distinct tenants that get a label of their own; the rest count under `other`. Tenants are namespace
 * labels, which whoever may create namespaces can choose: the cap keeps them from growing the series
 * without bound (each tenant costs about a dozen series across the two counters).
 */
export const MAX_TENANT_LABELS = 200;

/**
 * The `tenant` label value of a decision: the tenant while fewer than `max` distinct ones were seen,
 * `other` after, `none` for a namespace without a tenant.
 */
export function createTenantLabeller(max = MAX_TENANT_LABELS): (tenant: string | undefined) => string {
  const seen = new Set<string>();
  return (tenant) => {
    if (!tenant) return 'none';
    if (seen.has(tenant)) return tenant;
    if (seen.size >= max) return 'other';
    seen.add(tenant);
    return tenant;
  };
}

/** Creates a registry with every tracegate metric; `defaults` adds process metrics (off in tests). */
export function createMetrics(opts: { defaults?: boolean } = {}) {
  const registry = new Registry();
  if (opts.defaults !== false) collectDefaultMetrics({ register: registry, prefix: 'tracegate_' });
  const m = {
    registry,
    tenantLabel: createTenantLabeller(),
    duration: new Histogram({
      name: 'tracegate_admission_duration_seconds',
      help: 'Time from request received to response sent, per webhook and decision.',
      labelNames: ['webhook', 'decision'] as const,
      buckets: DURATION_BUCKETS,
      registers: [registry],
    }),
    decisions: new Counter({
      name: 'tracegate_admission_decisions_total',
      help: 'Admission decisions per webhook, decision (allow, warn, deny, skip) and tenant (capped: see MAX_TENANT_LABELS).',
      labelNames: ['webhook', 'decision', 'tenant'] as const,
      registers: [registry],
    }),
    violations: new Counter({
      name: 'tracegate_admission_violations_total',
      help: 'Rule violations found, per webhook, policy/rule, action and tenant (capped: see MAX_TENANT_LABELS).',
      labelNames: ['webhook', 'rule', 'decision', 'tenant'] as const,
      registers: [registry],
    }),
    inFlight: new Gauge({ name: 'tracegate_admission_in_flight', help: 'Admission reviews being processed.', registers: [registry] }),
    badRequests: new Counter({
      name: 'tracegate_admission_bad_requests_total',
      help: 'Requests answered with 4xx/5xx because the request or the gate was unusable.',
      labelNames: ['status'] as const,
      registers: [registry],
    }),
    certExpiry: new Gauge({
      name: 'tracegate_certificate_expiry_timestamp_seconds',
      help: 'notAfter of the serving certificate (and the CA when known), as Unix seconds.',
      labelNames: ['certificate'] as const,
      registers: [registry],
    }),
    certReloads: new Counter({
      name: 'tracegate_certificate_reloads_total',
      help: 'Serving certificate reload attempts by result.',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    tenancyRestarts: new Counter({ name: 'tracegate_namespace_watch_restarts_total', help: 'Namespace informer restarts after errors.', registers: [registry] }),
    ...createPolicyMetrics(registry),
  };
  return m;
}

export type Metrics = ReturnType<typeof createMetrics>;

/**
 * The policy set's metrics, on the registry they are given: the gate's, the recorder's (its audit
 * follows the same TracegatePolicy objects) or the web view's.
 */
export function createPolicyMetrics(registry: Registry) {
  return {
    policyInfo: new Gauge({
      name: 'tracegate_policy_info',
      help: 'Enforced policies (value 1), with name, version and digest.',
      labelNames: ['policy', 'version', 'digest'] as const,
      registers: [registry],
    }),
    policyLoadErrors: new Counter({
      name: 'tracegate_policy_load_errors_total',
      help: 'TracegatePolicy generations refused (schema, compile error, duplicate name), per policy; the last good generation stays in force.',
      labelNames: ['policy'] as const,
      registers: [registry],
    }),
    policySetLoaded: new Gauge({
      name: 'tracegate_policy_set_loaded_timestamp_seconds',
      help: 'When the policy set in force was loaded (Unix seconds), with its digest.',
      labelNames: ['digest'] as const,
      registers: [registry],
    }),
    policyWatchRestarts: new Counter({ name: 'tracegate_policy_watch_restarts_total', help: 'TracegatePolicy informer restarts after errors.', registers: [registry] }),
  };
}

export type PolicyMetrics = ReturnType<typeof createPolicyMetrics>;

/**
 * The recorder's background audit (src/audit), on the registry it is given (the recorder's): full
 * passes, the results of the reports it keeps, and its report writes.
 */
export function createAuditMetrics(registry: Registry) {
  return {
    runs: new Counter({
      name: 'tracegate_audit_runs_total',
      help: 'Full audit passes by outcome (complete, unavailable: the PolicyReport CRDs are not installed, failed, abandoned: leadership lost).',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    results: new Gauge({
      name: 'tracegate_audit_results',
      help: 'Audit results (workload × rule) in the PolicyReports, per result (pass, fail, warn, error, skip).',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    workloads: new Gauge({ name: 'tracegate_audit_workloads', help: 'Workloads in the PolicyReports.', registers: [registry] }),
    writes: new Counter({
      name: 'tracegate_audit_report_writes_total',
      help: 'PolicyReport writes by operation (created, replaced, deleted); reports found unchanged are not written.',
      labelNames: ['operation'] as const,
      registers: [registry],
    }),
    passSeconds: new Gauge({ name: 'tracegate_audit_last_pass_duration_seconds', help: 'Duration of the last complete full audit pass.', registers: [registry] }),
  };
}

export type AuditMetrics = ReturnType<typeof createAuditMetrics>;
