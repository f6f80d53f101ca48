/**
 * The gate's policy set in force and where it comes from (`--policy-source`): `files` (loaded once at
 * start; a bad file is a startup error), `cluster` (TracegatePolicy objects, live: cluster-policies.ts)
 * or `both` (the files always apply, as a floor the cluster adds to). Every swap is one assignment, so a
 * review that took the set keeps it to its end; the swap is logged and shown in metrics and /policies.
 */
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import type { GateConfig } from '../config.js';
import type { PolicyMetrics } from '../metrics.js';
import { bundledPoliciesDir } from '../paths.js';
import type { ClusterPolicies } from './cluster-policies.js';
import { describePolicySet, type PolicySetView } from './describe.js';
import type { PolicyLoader } from './load.js';
import type { PolicySet } from './types.js';

/** Inputs of {@link createGatePolicies}. */
export interface GatePoliciesDeps {
  config: Readonly<Pick<GateConfig, 'policySource' | 'policies' | 'kubeconfig'>>;
  loader: PolicyLoader;
  log: Logger;
  metrics: PolicyMetrics;
  env: Readonly<Record<string, string | undefined>>;
  /** Follow the objects without writing their status (the recorder's audit, the web view): see ClusterPoliciesDeps.writeStatus. */
  readOnly?: boolean;
  /** Called with every set installed after the first (the audit re-judges every workload on a change). */
  onChange?: (set: PolicySet) => void;
  /** Where relative policy paths and the kubeconfig are resolved. */
  cwd: string;
  now?: () => Date;
}

/** The set in force, its readiness and its compliance view. */
export interface GatePolicies {
  /**
   * Starts watching the cluster's objects (once the gate listens, so a failed start leaves no watch
   * behind). Resolves when the first cluster set is in force (at once for files), or when stopped first;
   * never rejects.
   */
  start(): Promise<void>;
  /** The set in force now; take it once per review. */
  current(): PolicySet;
  /** False until the first set from every configured source is in force. */
  ready(): boolean;
  /** What GET /policies shows: the set with each rule's parameters, its source and load time, objects refused. */
  view(): PolicySetView;
  stop(): Promise<void>;
}

/** Loads the files now (a bad one throws); for a cluster source `start` begins the watch and the first cluster set arrives later (see `ready`). */
export async function createGatePolicies(deps: GatePoliciesDeps): Promise<GatePolicies> {
  const { config, loader, log, metrics } = deps;
  const now = deps.now ?? (() => new Date());
  const mode = config.policySource;
  const paths = config.policies.length ? config.policies.map((p) => resolve(deps.cwd, p)) : [bundledPoliciesDir];
  const floor = mode === 'cluster' ? undefined : await loader.load(paths, deps.cwd);
  let active: PolicySet = floor ?? loader.toSet([]);
  let loadedAt: Date | undefined;
  let cluster: ClusterPolicies | undefined;

  function install(set: PolicySet): void {
    const first = loadedAt === undefined;
    active = set;
    loadedAt = now();
    metrics.policyInfo.reset();
    for (const p of set.policies) metrics.policyInfo.set({ policy: p.name, version: p.version, digest: p.digest }, 1);
    metrics.policySetLoaded.reset();
    metrics.policySetLoaded.set({ digest: set.digest }, loadedAt.getTime() / 1000);
    log.info({ source: mode, policies: set.policies.map((p) => `${p.name}@${p.version}=${p.digest}`), set: set.digest }, 'policies loaded');
    if (set.policies.length === 0) log.warn({ source: mode }, 'no policies: every change is admitted unjudged (create TracegatePolicy objects)');
    if (!first) deps.onChange?.(set);
  }

  if (floor) install(floor);
  if (mode !== 'files') {
    // client-node costs tens of MB at import: only a cluster source loads it.
    const [{ CustomObjectsApi }, { loadKubeconfig }, { createClusterPolicies }] = await Promise.all([
      import('@kubernetes/client-node'),
      import('../kube/load-kubeconfig.js'),
      import('./cluster-policies.js'),
    ]);
    const kubeConfig = loadKubeconfig({ ...(config.kubeconfig ? { file: config.kubeconfig } : {}), env: deps.env, cwd: deps.cwd, ...(deps.env.HOME ? { home: deps.env.HOME } : {}) });
    cluster = createClusterPolicies({
      kubeConfig,
      api: kubeConfig.makeApiClient(CustomObjectsApi),
      check: loader.check,
      toSet: loader.toSet,
      ...(floor ? { floor: floor.policies } : {}),
      log,
      metrics,
      ...(deps.readOnly ? { writeStatus: false } : {}),
      onSet: install,
      now,
    });
  }

  return {
    async start() {
      // The gate does not await it (readiness reports it); list failures are retried and logged inside.
      await cluster?.start().then(
        () => log.info({ source: mode }, 'policy objects synced'),
        (err: unknown) => log.info({ err: String((err as Error)?.message ?? err) }, 'policy objects stopped before their first sync'),
      );
    },
    current: () => active,
    ready: () => cluster?.ready() ?? true,
    view: () => describePolicySet(active, { source: mode, ...(loadedAt ? { loadedAt } : {}), ...(cluster ? { refused: cluster.refused() } : {}) }),
    stop: async () => void (await cluster?.stop()),
  };
}
