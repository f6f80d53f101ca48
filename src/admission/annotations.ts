/** The annotation keys tracegate writes, under the configured prefix (default `tracegate.io/`). */

import { BREAK_GLASS_CHANGE_NAME, CHANGE_COMMIT_NAME, USED_COMMITS_NAME } from '../policy/defaults.js';

/** Shown by `kubectl rollout history`: Kubernetes' own key for why a revision exists. */
export const CHANGE_CAUSE = 'kubernetes.io/change-cause';

/** The keys tracegate owns, for one prefix; Argo CD's ignoreDifferences recipe lists exactly these. */
export function tracegateKeys(prefix: string) {
  return {
    tenant: `${prefix}tenant`,
    changedBy: `${prefix}changed-by`,
    changeId: `${prefix}change-id`,
    changeCommit: `${prefix}${CHANGE_COMMIT_NAME}`,
    usedCommits: `${prefix}${USED_COMMITS_NAME}`,
    breakGlassChange: `${prefix}${BREAK_GLASS_CHANGE_NAME}`,
    fieldManager: `${prefix}field-manager`,
    commit: `${prefix}commit`,
    approver: `${prefix}approver`,
    pipelineRun: `${prefix}pipeline-run`,
    breakGlass: `${prefix}break-glass`,
  } as const;
}

export type TracegateKeys = ReturnType<typeof tracegateKeys>;
