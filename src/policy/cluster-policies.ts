/**
 * The gate's live policies from the cluster: TracegatePolicy objects kept by the synced informer
 * (kube/informer.ts: paginated list, watch with bookmarks, 410 → relist, restarts with backoff), judged
 * by cluster-state.ts after every change, the resulting set handed to `onSet` (an atomic swap: a
 * review evaluates against one set from start to end), and each object's verdict written back as its
 * status. A refused generation is logged once (bounded) and counted in
 * `tracegate_policy_load_errors_total{policy}`. Imports client-node: load it only for a cluster source.
 */
import type { CustomObjectsApi, KubeConfig, KubernetesListObject, KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { TracegateError } from '../errors.js';
import { kubeApiError, statusOf } from '../kube/api-error.js';
import { abortableRequest, createSyncedInformer } from '../kube/informer.js';
import type { PolicyMetrics } from '../metrics.js';
import { createClusterPolicyState, objectRef, type ClusterStateDeps, type PolicyOutcome } from './cluster-state.js';
import { boundText } from './digest.js';
import { desiredStatus } from './policy-status.js';
import { TRACEGATE_POLICY } from './tracegate-policy.js';
import type { PolicySet } from './types.js';

/** client-go's page size: bounded memory per page, few round trips. */
const LIST_PAGE_SIZE = 500;
/** kube-apiserver's own default request timeout; a page that takes longer is stuck. */
const PAGE_TIMEOUT_MS = 60_000;
/** Changes are gathered this long before a reconcile: a relist's burst of events is judged once, still well within a second. */
const RECONCILE_DELAY_MS = 50;
/** Problems a log line lists in full; the rest are counted (a policy can have thousands of rules). */
const LOG_PROBLEMS_MAX = 20;
/** The field manager of the gate's status writes (managedFields, `kubectl get --show-managed-fields`). */
const FIELD_MANAGER = 'tracegate';
const CONFLICT = 409;
const NOT_FOUND = 404;

/** The CustomObjectsApi calls made here; a real client or a test fake (status writes only with `writeStatus`). */
export type PolicyObjectsApi = Pick<CustomObjectsApi, 'listClusterCustomObject' | 'replaceClusterCustomObjectStatus'>;

/** Inputs of {@link createClusterPolicies}. */
export interface ClusterPoliciesDeps extends ClusterStateDeps {
  kubeConfig: KubeConfig;
  api: PolicyObjectsApi;
  log: Logger;
  metrics: PolicyMetrics;
  /**
   * Write each object's verdict into its status (default true). The gate's replicas do; readers that
   * follow the same objects (the recorder's audit, the web view) do not: one writer of the status, and no
   * write right for them.
   */
  writeStatus?: boolean;
  /** Receives every new set (the first after the first list). */
  onSet(set: PolicySet): void;
  now?: () => Date;
  random?: () => number;
}

/** The running source: lifecycle, readiness and the objects not loaded. */
export interface ClusterPolicies {
  /** Lists, loads the first set and watches; resolves after the first set was handed over. */
  start(): Promise<void>;
  stop(): Promise<void>;
  /** True once the first list was judged and its set handed over. */
  ready(): boolean;
  /** Objects whose current generation is not in force, with why. */
  refused(): readonly PolicyOutcome[];
}

const P = TRACEGATE_POLICY;

/** Every TracegatePolicy, page by page; the list's resourceVersion is the first page's (the gate's informer and `tracegate policies --cluster`). */
export async function listPolicies(api: PolicyObjectsApi, signal: AbortSignal): Promise<KubernetesListObject<KubernetesObject>> {
  const items: KubernetesObject[] = [];
  let cont: string | undefined;
  let resourceVersion: string | undefined;
  do {
    const page = (await api
      .listClusterCustomObject({ group: P.group, version: P.version, plural: P.plural, limit: LIST_PAGE_SIZE, ...(cont ? { _continue: cont } : {}) }, abortableRequest(AbortSignal.any([signal, AbortSignal.timeout(PAGE_TIMEOUT_MS)])))
      .catch((err: unknown) => {
        if (statusOf(err) === NOT_FOUND) {
          throw new TracegateError('KUBE_API', `list ${P.plural}: the API server does not serve ${P.plural}.${P.group}/${P.version}; install the CRD (kubectl apply -f manifests/crds/tracegatepolicy.yaml)`);
        }
        throw kubeApiError('list', P.plural, err);
      })) as KubernetesListObject<KubernetesObject>;
    items.push(...(page.items ?? []));
    resourceVersion ??= page.metadata?.resourceVersion;
    cont = page.metadata?._continue || undefined;
  } while (cont !== undefined);
  if (!resourceVersion) throw new TracegateError('KUBE_API', `list ${P.plural}: the answer has no resourceVersion`);
  return { apiVersion: P.apiVersion, kind: P.listKind, metadata: { resourceVersion }, items };
}

/** Creates the source; nothing is requested before `start()`. */
export function createClusterPolicies(deps: ClusterPoliciesDeps): ClusterPolicies {
  const { log, metrics } = deps;
  const now = deps.now ?? (() => new Date());
  const state = createClusterPolicyState(deps);
  const informer = createSyncedInformer<KubernetesObject>({
    kubeConfig: deps.kubeConfig,
    path: `/apis/${P.group}/${P.version}/${P.plural}`,
    list: (signal) => listPolicies(deps.api, signal),
    what: P.plural,
    log,
    onRestart: () => metrics.policyWatchRestarts.inc(),
    ...(deps.random ? { random: deps.random } : {}),
  });
  let loaded = false;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let refused: readonly PolicyOutcome[] = [];
  /** Per object: what the last reconcile made of it (the status writes' source). */
  const lastOutcomes = new Map<string, PolicyOutcome>();
  /** Status writes run one pass at a time; a reconcile during a pass asks for another. */
  let writing: Promise<void> | undefined;
  let writeAgain = false;
  /** Per object: the last status write failure logged, so a lasting one (RBAC) is logged once. */
  const writeFailures = new Map<string, string>();
  /**
   * Per object: the generation whose status this replica has written. Each replica writes a generation's
   * status once: replicas that judge differently (a rollout that changes --policy-source or the schema)
   * would otherwise overwrite each other's status forever, each write a watch event for the other.
   */
  const written = new Map<string, number>();

  function report(o: PolicyOutcome): void {
    metrics.policyLoadErrors.inc({ policy: o.name });
    const problems = o.problems.slice(0, LOG_PROBLEMS_MAX).map((p) => `${boundText(p.path)}: ${boundText(p.message)}`);
    log.warn(
      {
        policy: o.name,
        generation: o.generation,
        reason: o.reason,
        problems,
        ...(o.problems.length > LOG_PROBLEMS_MAX ? { moreProblems: o.problems.length - LOG_PROBLEMS_MAX } : {}),
        enforced: o.enforced ? `${o.enforced.version}=${o.enforced.digest}` : 'nothing',
      },
      o.enforced ? 'policy refused; its last good generation stays in force' : 'policy refused; not in force',
    );
  }

  async function writeStatuses(): Promise<void> {
    do {
      writeAgain = false;
      for (const obj of informer.list()) {
        if (stopped) return;
        const name = obj.metadata?.name;
        const outcome = name === undefined ? undefined : lastOutcomes.get(name);
        if (!name || !outcome) continue;
        if (outcome.generation !== undefined && written.get(name) === outcome.generation) continue;
        // The cache already holds a newer generation: its reconcile is pending and writes its own verdict.
        if (obj.metadata?.generation !== outcome.generation) continue;
        const status = desiredStatus(outcome, (obj as { status?: unknown }).status, now());
        if (!status) continue;
        try {
          await deps.api.replaceClusterCustomObjectStatus({ group: P.group, version: P.version, plural: P.plural, name, body: { ...obj, status }, fieldManager: FIELD_MANAGER });
          writeFailures.delete(name);
          if (outcome.generation !== undefined) written.set(name, outcome.generation);
        } catch (err) {
          // A newer object is on its way through the watch; its event brings another reconcile.
          const code = statusOf(err);
          if (code === CONFLICT || code === NOT_FOUND) continue;
          const why = kubeApiError('update', `${objectRef(name)} status`, err).message;
          if (writeFailures.get(name) !== why) log.warn({ policy: name, err: why }, 'cannot write the policy status');
          writeFailures.set(name, why);
        }
      }
    } while (writeAgain && !stopped);
  }

  function reconcile(): void {
    timer = undefined;
    if (stopped) return;
    const result = state.reconcile(informer.list());
    lastOutcomes.clear();
    for (const o of result.outcomes) lastOutcomes.set(o.name, o);
    for (const name of [...written.keys()]) if (!lastOutcomes.has(name)) written.delete(name);
    refused = result.outcomes.filter((o) => !o.ready);
    for (const o of refused) if (o.fresh) report(o);
    if (result.changed || !loaded) deps.onSet(result.set);
    loaded = true;
    if (deps.writeStatus === false) return;
    if (writing) writeAgain = true;
    else writing = writeStatuses().finally(() => (writing = undefined));
  }

  informer.onChange(() => {
    if (!informer.ready() || stopped || timer) return;
    timer = setTimeout(reconcile, RECONCILE_DELAY_MS);
    timer.unref();
  });

  return {
    async start() {
      await informer.start();
      clearTimeout(timer);
      reconcile();
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await informer.stop();
      await writing;
    },
    ready: () => loaded,
    refused: () => refused,
  };
}
