/** The recorder's Prometheus metrics, on a registry of its own. */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

/** `registry`: one shared with metrics made before the recorder starts (the audit's policy watch); default a new one. */
export function createRecorderMetrics(opts: { defaults?: boolean; registry?: Registry } = {}) {
  const registry = opts.registry ?? new Registry();
  if (opts.defaults !== false) collectDefaultMetrics({ register: registry, prefix: 'tracegate_recorder_' });
  return {
    registry,
    recorded: new Counter({ name: 'tracegate_recorder_revisions_total', help: 'Release revisions recorded.', labelNames: ['verified', 'adopted'] as const, registers: [registry] }),
    unverified: new Counter({
      name: 'tracegate_recorder_unverified_changes_total',
      help: 'Pod-template changes that reached the cluster without the gate (webhook bypassed, down or excluded).',
      registers: [registry],
    }),
    conflicts: new Counter({ name: 'tracegate_recorder_conflicts_total', help: 'Revision creates that found the revision already written (409).', registers: [registry] }),
    restored: new Counter({
      name: 'tracegate_recorder_rollbacks_restored_total',
      help: 'Helm rollbacks that did not land exactly and were finished by the recorder (exact: whether the read-back matched).',
      labelNames: ['exact'] as const,
      registers: [registry],
    }),
    errors: new Counter({ name: 'tracegate_recorder_errors_total', help: 'Recording attempts that failed.', registers: [registry] }),
    leader: new Gauge({ name: 'tracegate_recorder_leader', help: '1 while this replica holds the Lease.', registers: [registry] }),
    watchRestarts: new Counter({ name: 'tracegate_recorder_watch_restarts_total', help: 'Deployment watch restarts.', registers: [registry] }),
    // Certificate rotation (--rotate-certs, src/recorder/cert-rotation.ts): set by the leader only.
    certExpiry: new Gauge({
      name: 'tracegate_recorder_cert_expiry_timestamp_seconds',
      help: 'notAfter of the gate certificates the recorder manages (certificate: ca, serving), as Unix seconds.',
      labelNames: ['certificate'] as const,
      registers: [registry],
    }),
    certRotations: new Counter({
      name: 'tracegate_recorder_cert_rotations_total',
      help: 'Certificate rotation steps applied (action: issue-ca, publish-bundle, issue-serving, update-trust).',
      labelNames: ['action'] as const,
      registers: [registry],
    }),
    certErrors: new Counter({ name: 'tracegate_recorder_cert_rotation_errors_total', help: 'Certificate checks that failed (retried next interval).', registers: [registry] }),
  };
}

export type RecorderMetrics = ReturnType<typeof createRecorderMetrics>;
