/** The background audit's configuration, dependencies and pass statistics (the auditor: auditor.ts). */
import type { Logger } from 'pino';
import type { AuditMetrics } from '../metrics.js';
import type { PolicySet } from '../policy/types.js';
import type { TenancyOptions } from '../tenancy/resolve.js';
import type { Summary } from './report.js';
import type { ReportStore, SaveOutcome } from './report-store.js';
import type { WorkloadSource } from './workload-source.js';

export interface AuditorConfig {
  /** Time between full passes (> 0; a disabled audit has no auditor). */
  intervalMs: number;
  /** tracegate's annotation prefix. */
  prefix: string;
  flushDelayMs?: number;
  unavailableRetryMs?: number;
}

export interface AuditorDeps {
  source: WorkloadSource;
  store: ReportStore;
  log: Logger;
  metrics?: AuditMetrics;
  /** The policy set the gate enforces, as loaded at start; {@link Auditor.setPolicies} swaps it. */
  policies: PolicySet;
  /** How a namespace names its tenant (a label, or a pattern over names), as the gate's --tenant-label and --namespace-pattern. */
  tenancy?: TenancyOptions;
  /** Whether this replica may write (holds the Lease); checked before every report write. */
  canWrite: () => boolean;
  config: AuditorConfig;
  now?: () => Date;
}

/** What one full pass did. */
export interface PassStats {
  namespaces: number;
  /** Objects listed (owned ones included) and workloads audited. */
  listed: number;
  workloads: number;
  results: Summary;
  writes: Record<SaveOutcome, number>;
  errors: number;
  durationMs: number;
}
