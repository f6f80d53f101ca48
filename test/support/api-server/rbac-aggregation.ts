/**
 * kube-controller-manager's ClusterRole aggregation controller
 * (pkg/controller/clusterroleaggregation/clusterroleaggregation_controller.go `syncClusterRole`): a
 * ClusterRole with an `aggregationRule` gets, as its `rules`, the rules of every other ClusterRole its
 * selectors match — selectors in order, matching roles by name, a rule already taken skipped
 * (`ruleExists`) — written with a forced server-side apply as `clusterrole-aggregation-controller`
 * when they differ. Any ClusterRole change re-syncs every aggregated role (the controller enqueues them
 * all), so chains (`view` → `edit` → `admin`) settle. Modelled synchronously: the sync runs in the
 * microtasks after the write that triggered it, before its response reaches the client.
 */
import { isRecord } from '../../../src/k8s/types.js';
import { compileSelector } from '../admission-chain/match.js';
import type { LabelSelector } from '../admission-chain/types.js';
import type { InternalClient } from './internal-client.js';
import { findResource } from './resources.js';
import type { ResourceInfo } from './resources.js';
import type { ObjectStore } from './store.js';
import type { JsonObject } from './types.js';

/** The field manager the controller applies with. */
export const AGGREGATION_MANAGER = 'clusterrole-aggregation-controller';

function meta(o: JsonObject): JsonObject {
  return isRecord(o['metadata']) ? o['metadata'] : {};
}

function selectorsOf(role: JsonObject): LabelSelector[] | undefined {
  const rule = role['aggregationRule'];
  if (!isRecord(rule)) return undefined;
  const selectors = rule['clusterRoleSelectors'];
  return Array.isArray(selectors) ? selectors.filter(isRecord).map((s) => s as LabelSelector) : [];
}

/** The rules `role` aggregates from `all` (every ClusterRole), or `undefined` when it has no aggregationRule. */
export function aggregatedRules(role: JsonObject, all: readonly JsonObject[]): unknown[] | undefined {
  const selectors = selectorsOf(role);
  if (selectors === undefined) return undefined;
  const name = String(meta(role)['name'] ?? '');
  const rules: unknown[] = [];
  const seen = new Set<string>();
  const byName = [...all].sort((a, b) => (String(meta(a)['name']) < String(meta(b)['name']) ? -1 : 1));
  for (const selector of selectors) {
    const test = compileSelector(selector);
    // LabelSelectorAsSelector's error ends the sync; the role keeps its rules.
    if (!test.ok) return undefined;
    for (const other of byName) {
      if (String(meta(other)['name'] ?? '') === name) continue;
      const labels = isRecord(meta(other)['labels']) ? (meta(other)['labels'] as Record<string, string>) : {};
      if (!test.value(labels)) continue;
      for (const r of Array.isArray(other['rules']) ? other['rules'] : []) {
        const key = JSON.stringify(r);
        if (seen.has(key)) continue;
        seen.add(key);
        rules.push(structuredClone(r));
      }
    }
  }
  return rules;
}

/** Starts the controller over `store`, writing through `client`; returns its stop function. */
export function startClusterRoleAggregation(deps: { store: ObjectStore; client: InternalClient }): () => void {
  const info = findResource('rbac.authorization.k8s.io', 'v1', 'clusterroles') as ResourceInfo;
  let queued = false;
  let stopped = false;

  async function sync(): Promise<void> {
    queued = false;
    if (stopped) return;
    const all = deps.store.list(info);
    for (const role of all) {
      const wanted = aggregatedRules(role, all);
      if (wanted === undefined) continue;
      const have = Array.isArray(role['rules']) ? role['rules'] : [];
      // equality.Semantic.DeepEqual: nil and empty rules are the same.
      if (JSON.stringify(have) === JSON.stringify(wanted)) continue;
      const name = String(meta(role)['name'] ?? '');
      const body = { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name }, rules: wanted };
      await deps.client.request('PATCH', `/apis/rbac.authorization.k8s.io/v1/clusterroles/${encodeURIComponent(name)}?fieldManager=${AGGREGATION_MANAGER}&force=true`, body, 'application/apply-patch+yaml');
    }
  }

  const unsubscribe = deps.store.subscribe((e) => {
    if (e.info.group !== info.group || e.info.resource !== info.resource || queued) return;
    queued = true;
    queueMicrotask(() => void sync());
  });
  queued = true;
  queueMicrotask(() => void sync());
  return () => {
    stopped = true;
    unsubscribe();
  };
}
