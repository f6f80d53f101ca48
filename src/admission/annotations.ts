/** The annotation keys tracegate writes, under the configured prefix (default `tracegate.io/`). */

import { APPROVAL_ANNOTATION_NAME, CI_TOKEN_ANNOTATION_NAME } from '../approval/statement.js';
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
    /** The approver the current template was admitted with ('' when none); the approver key itself is input. */
    changeApprover: `${prefix}change-approver`,
    /** The pipeline run the current template was admitted with ('' when none). */
    changePipelineRun: `${prefix}change-pipeline-run`,
    /**
     * The statements that proved the current template's commit and approver (`approval sha256:…`,
     * `ci-token sha256:…`); absent when nothing verified them. Covered by the change id's MAC.
     */
    changeVerified: `${prefix}change-verified`,
    /** The test-results link of the verified approval the current template was admitted with. */
    changeTestResults: `${prefix}change-test-results`,
    usedCommits: `${prefix}${USED_COMMITS_NAME}`,
    breakGlassChange: `${prefix}${BREAK_GLASS_CHANGE_NAME}`,
    fieldManager: `${prefix}field-manager`,
    commit: `${prefix}commit`,
    approver: `${prefix}approver`,
    pipelineRun: `${prefix}pipeline-run`,
    /** Input: a signed approval (compact JWS, `tracegate approve`). */
    approval: `${prefix}${APPROVAL_ANNOTATION_NAME}`,
    /** Input: the CI system's OIDC ID token. */
    ciToken: `${prefix}${CI_TOKEN_ANNOTATION_NAME}`,
    breakGlass: `${prefix}break-glass`,
    /**
     * Who used break-glass past the gate during an outage: a ValidatingAdmissionPolicy (run by the
     * apiserver itself, so it works while the gate is down) admits it only from that very user.
     */
    breakGlassBy: `${prefix}break-glass-by`,
  } as const;
}

export type TracegateKeys = ReturnType<typeof tracegateKeys>;
