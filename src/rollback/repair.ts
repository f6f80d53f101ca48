/**
 * Finishing a `helm rollback` that did not land exactly. Helm 4 rolls back with server-side apply, which
 * keeps every field another manager owns (a sidecar `kubectl patch` added stays); Helm 3 after a refused
 * attempt diffs against the failed revision and keeps what that revision never had. Either way Helm
 * records "Rollback to N" while the workload runs something revision N never held. The recorder sees
 * that (the newest deployed revision is Helm's rollback, its last writer is helm, the live template
 * differs) and replaces the pod template with the revision's, as `tracegate rollback` does.
 */
import { CHANGE_CAUSE, tracegateKeys } from '../admission/annotations.js';
import type { KubeObject } from '../k8s/types.js';
import { workloadKind } from '../workload/kinds.js';
import { restoreBody, templateDiff } from './restore.js';
import type { WorkloadApi } from './rollback.js';

/** The field manager of the recorder's own writes. */
export const REPAIR_FIELD_MANAGER = 'tracegate-recorder';

/** Restores the template of revision `revision` (the one Helm rolled back to) on `live`; resolves with the fields still differing afterwards (none: it landed). */
export type RollbackRepair = (live: KubeObject, target: KubeObject, revision: number) => Promise<string[]>;

/** Creates the repair the recorder calls; every call goes through the gate like any other write. */
export function createRollbackRepair(deps: { workloads: WorkloadApi; prefix: string }): RollbackRepair {
  const keys = tracegateKeys(deps.prefix);
  return async (live, target, revision) => {
    const a = live.metadata?.annotations ?? {};
    // The rollback's own provenance, as the gate stamped it on Helm's write: the repair finishes that change.
    const carried = (stamp: string, input: string) => (a[stamp] ? { [input]: a[stamp]! } : {});
    const body = restoreBody(live, { ...target, kind: live.kind }, deps.prefix, {
      labels: {},
      annotations: {
        ...carried(keys.changeCommit, keys.commit),
        ...carried(keys.changeApprover, keys.approver),
        [CHANGE_CAUSE]: `Rollback to ${revision} (completed by tracegate)`,
      },
    });
    await deps.workloads.replace(body, { dryRun: false, fieldManager: REPAIR_FIELD_MANAGER });
    const info = workloadKind(live.kind);
    const after = info && (await deps.workloads.read(info, live.metadata?.namespace ?? 'default', live.metadata?.name ?? ''));
    return after ? templateDiff({ ...target, kind: live.kind }, after, deps.prefix) : ['the workload is gone'];
  };
}
