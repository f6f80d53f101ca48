/** Defaults a policy gets for what it leaves out. Listed once here and in the README's policy reference. */
import type { ContainerList } from '../k8s/types.js';
import type { ImageSourceList } from './types.js';

/** Annotation prefix for everything tracegate reads and writes, unless configured otherwise. */
export const DEFAULT_ANNOTATION_PREFIX = 'tracegate.io/';

/**
 * Image rules look at every image a pod can run: every container list (`kubectl debug` adds ephemeral
 * containers to running pods) and image volumes, whose image the kubelet pulls as well.
 */
export const IMAGE_CONTAINER_LISTS: readonly ImageSourceList[] = ['containers', 'initContainers', 'ephemeralContainers', 'imageVolumes'];

/** Resource rules skip ephemeral containers: the API forbids resources on them. */
export const RESOURCE_CONTAINER_LISTS: readonly ContainerList[] = ['containers', 'initContainers'];

/** Field managers of kubectl's imperative commands (reference/admission-protocol.md §8). */
export const DEFAULT_SCRIPT_MANAGERS: readonly string[] = [
  'kubectl-set',
  'kubectl-edit',
  'kubectl-patch',
  'kubectl-replace',
  'kubectl-client-side-apply',
  'kubectl',
];

/** Field managers of GitOps and release tools whose changes come from a reviewed source. */
export const DEFAULT_TRUSTED_MANAGERS: readonly string[] = [
  'helm',
  'argocd-controller',
  'kustomize-controller',
  'helm-controller',
];

/** Provenance keys: the canonical name (after the prefix) and the aliases accepted on input. */
export const PROVENANCE_KEY_DEFAULTS = {
  commit: { name: 'commit', aliases: ['ci/commit', 'commit', 'git-commit', 'gitCommit'] },
  approver: { name: 'approver', aliases: ['ci/approver', 'approvedBy', 'approved-by', 'approver'] },
  pipelineRun: { name: 'pipeline-run', aliases: ['ci/pipeline-run', 'ci/run', 'pipelineRun', 'pipeline-run'] },
} as const;

/** Gate-owned (after the prefix): the new commit the current template was admitted with ('' when none). */
export const CHANGE_COMMIT_NAME = 'change-commit';

/**
 * Gate-owned: every commit value the object carried when its current template was admitted. Freshness
 * is judged against this stamp, so provenance may arrive in an earlier metadata-only update
 * (`kubectl annotate`, then `kubectl set image`), yet no commit ever covers a second change.
 */
export const USED_COMMITS_NAME = 'used-commits';

/** Gate-owned: `<change id> <reason>` when break-glass waived provenance for the current template. */
export const BREAK_GLASS_CHANGE_NAME = 'break-glass-change';

/** Break-glass annotation name (after the prefix). */
export const BREAK_GLASS_NAME = 'break-glass';

/**
 * A commit, unless a policy says otherwise: a git object name, abbreviated (git's default abbreviation is
 * 7) up to a full SHA-256 object name (64). Lowercase only, as git prints them: `ABC1234` would otherwise
 * pass for a new commit next to `abc1234`.
 */
export const DEFAULT_COMMIT_PATTERN = '[0-9a-f]{7,64}';

/**
 * `spec.revisionHistoryLimit` of a Deployment, StatefulSet or DaemonSet that leaves it out: the apps/v1
 * default (SetDefaults_Deployment, SetDefaults_StatefulSet, SetDefaults_DaemonSet in
 * pkg/apis/apps/v1/defaults.go), which the gate also stamps.
 */
export const APPS_DEFAULT_REVISION_HISTORY_LIMIT = 10;
