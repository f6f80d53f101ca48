/**
 * The background audit's policy set, from where the gate takes its own (`--policy-source`): the files
 * once, or the cluster's TracegatePolicy objects followed live — read-only: the gate's replicas write
 * the objects' status, the recorder only needs what is in force. A new set re-audits every workload.
 */
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { createPolicyMetrics } from '../metrics.js';
import { policySchemaPath } from '../paths.js';
import { createGatePolicies, type GatePolicies } from '../policy/gate-policies.js';
import { createPolicyLoader, readPolicySchema } from '../policy/load.js';
import type { PolicySet } from '../policy/types.js';
import type { RecordCommandConfig } from './config.js';

/** Inputs of {@link startAuditPolicies}. */
export interface AuditPoliciesDeps {
  config: Readonly<Pick<RecordCommandConfig, 'policySource' | 'policies' | 'kubeconfig' | 'annotationPrefix'>>;
  log: Logger;
  /** The recorder's registry: the policy metrics (`tracegate_policy_*`) are served with its own. */
  registry: Registry;
  env: Readonly<Record<string, string | undefined>>;
  cwd: string;
  /** Every set in force after the first. */
  onChange(set: PolicySet): void;
}

/**
 * Loads the files (a bad one throws, as it fails the gate's start) and, for a cluster source, resolves
 * once the first set of objects is in force — the audit never runs a pass against a half-known set.
 */
export async function startAuditPolicies(deps: AuditPoliciesDeps): Promise<GatePolicies> {
  const { config } = deps;
  const loader = createPolicyLoader({ schema: await readPolicySchema(policySchemaPath), annotationPrefix: config.annotationPrefix });
  const policies = await createGatePolicies({
    config: { policySource: config.policySource, policies: [...config.policies], ...(config.kubeconfig ? { kubeconfig: config.kubeconfig } : {}) },
    loader,
    log: deps.log.child({ component: 'audit-policies' }),
    metrics: createPolicyMetrics(deps.registry),
    env: deps.env,
    cwd: deps.cwd,
    readOnly: true,
    onChange: deps.onChange,
  });
  await policies.start();
  return policies;
}
