/**
 * Types of tracegate policies: the document users write (`PolicyDocument`, mirrors
 * policies/policy.schema.json), the compiled form the engine runs, and what evaluation returns.
 */
import type { ImagePattern } from '../images/index.js';
import type { Quantity } from '../quantities/index.js';
import type { ContainerList } from '../k8s/types.js';
import type { ApprovalStatement, CiStatement } from '../approval/statement.js';

export type Action = 'deny' | 'warn' | 'audit';
export type Operation = 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';
export { WORKLOAD_KIND_NAMES as WORKLOAD_KINDS, type WorkloadKind } from '../workload/kinds.js';
import type { WorkloadKind } from '../workload/kinds.js';

/**
 * Where a pod's images come from: the three container lists, and image volumes
 * (`spec.volumes[].image.reference`, the ImageVolume feature), whose image the kubelet pulls too.
 */
export type ImageSourceList = ContainerList | 'imageVolumes';

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist'; values?: string[] }[];
}

export interface PolicyMatch {
  kinds?: WorkloadKind[];
  namespaces?: string[];
  excludeNamespaces?: string[];
  tenants?: string[];
  excludeTenants?: string[];
  labelSelector?: LabelSelector;
  operations?: ('CREATE' | 'UPDATE')[];
}

export interface ImagesRuleSpec {
  allowed?: string[];
  disallowed?: string[];
  disallowedTags?: string[];
  /** Also refuse case variants of a disallowed tag (`LATEST` under `latest`); default true. */
  disallowedTagsCaseInsensitive?: boolean;
  requireTag?: boolean;
  requireDigest?: boolean;
  /** Digest algorithms an image may be pinned with; default the OCI-registered `sha256`, `sha512`. */
  digestAlgorithms?: string[];
  exempt?: string[];
  containers?: ImageSourceList[];
}

export interface ResourcesRuleSpec {
  requests?: string[];
  limits?: string[];
  maxRequests?: Record<string, string | number>;
  maxLimits?: Record<string, string | number>;
  maxLimitRequestRatio?: Record<string, string | number>;
  minRequests?: Record<string, string | number>;
  minLimits?: Record<string, string | number>;
  exempt?: string[];
  containers?: ContainerList[];
}

export interface KeyRequirement {
  key: string;
  allowedRegex?: string;
}

export interface MetadataRuleSpec {
  target?: 'object' | 'podTemplate';
  labels?: KeyRequirement[];
  annotations?: KeyRequirement[];
}

export interface ProvenanceKeySpec {
  annotation: string;
  aliases?: string[];
}

export interface ProvenanceRuleSpec {
  commit?: ProvenanceKeySpec;
  approver?: ProvenanceKeySpec;
  pipelineRun?: ProvenanceKeySpec;
  requireCommit?: boolean;
  requireFreshCommit?: boolean;
  requireApprover?: boolean;
  requirePipelineRun?: boolean;
  separationOfDuties?: boolean;
  scriptManagers?: string[];
  trustedManagers?: string[];
  trustedUsers?: string[];
  trustedGroups?: string[];
  breakGlass?: { annotation: string; groups: string[] };
  /** A commit must match this regular expression, whole; default 7 to 64 lowercase hex characters. */
  commitPattern?: string;
  /** Verified provenance: a signed approval or a CI identity token (README "Signed approvals"). */
  signedApproval?: SignedApprovalSpec;
}

/** The provenance rule's `signedApproval` option, as written. */
export interface SignedApprovalSpec {
  /** `signed`: deny a change without a verified approval binding it; `warn`: admit it with a warning. */
  require: 'signed' | 'warn';
  /** Key ids this rule accepts (default: every key the gate trusts for the tenant). */
  keys?: string[];
  /** CI issuers this rule accepts (default: every configured issuer). */
  issuers?: string[];
}

export interface RevisionHistoryRuleSpec {
  /** Smallest `spec.revisionHistoryLimit` a Deployment, StatefulSet or DaemonSet may set. */
  minimum: number;
}

export interface RuleSpec {
  id: string;
  description?: string;
  action?: Action;
  message?: string;
  fix?: string;
  onUpdate?: 'always' | 'changed';
  images?: ImagesRuleSpec;
  resources?: ResourcesRuleSpec;
  metadata?: MetadataRuleSpec;
  provenance?: ProvenanceRuleSpec;
  revisionHistory?: RevisionHistoryRuleSpec;
}

/** A policy file document, as validated against policies/policy.schema.json. */
export interface PolicyDocument {
  apiVersion: 'tracegate.io/v1alpha1';
  kind: 'Policy';
  metadata: { name: string; version?: string; description?: string; owner?: string };
  spec: { match?: PolicyMatch; rules: RuleSpec[] };
}

/** Where a policy came from, for error messages and `tracegate policies`. */
export interface PolicySource {
  /** The file, or for a cluster object `tracegatepolicy.tracegate.io/<name>` (as kubectl names it). */
  file: string;
  /** Index of the YAML document within the file (0-based); 0 for a cluster object. */
  document: number;
  /** A cluster object's `metadata.generation`, when it has one. */
  generation?: number;
}

// ---- compiled form ----

export interface CompiledKeyRequirement {
  key: string;
  regex?: RegExp;
  allowedRegex?: string;
}

export interface CompiledImagesRule {
  allowed: readonly ImagePattern[];
  disallowed: readonly ImagePattern[];
  disallowedTags: ReadonlySet<string>;
  /** Lowercased disallowed tag → the tag as written; empty when case variants are not refused. */
  disallowedTagsFolded: ReadonlyMap<string, string>;
  requireTag: boolean;
  requireDigest: boolean;
  digestAlgorithms: ReadonlySet<string>;
  exempt: readonly ImagePattern[];
  containers: readonly ImageSourceList[];
}

export interface CompiledResourcesRule {
  requests: readonly string[];
  limits: readonly string[];
  maxRequests: ReadonlyMap<string, Quantity>;
  maxLimits: ReadonlyMap<string, Quantity>;
  maxLimitRequestRatio: ReadonlyMap<string, Quantity>;
  minRequests: ReadonlyMap<string, Quantity>;
  minLimits: ReadonlyMap<string, Quantity>;
  exempt: readonly ImagePattern[];
  containers: readonly ContainerList[];
}

export interface CompiledMetadataRule {
  target: 'object' | 'podTemplate';
  labels: readonly CompiledKeyRequirement[];
  annotations: readonly CompiledKeyRequirement[];
}

export interface ProvenanceKey {
  annotation: string;
  /** The canonical annotation first, then aliases, in lookup order. */
  keys: readonly string[];
}

export interface CompiledProvenanceRule {
  commit: ProvenanceKey;
  /** Gate-owned annotation: every commit value present when the current pod template was admitted. */
  usedCommits: string;
  /** Gate-owned annotation: the new commit the current pod template was admitted with. */
  changeCommit: string;
  approver: ProvenanceKey;
  pipelineRun: ProvenanceKey;
  requireCommit: boolean;
  requireFreshCommit: boolean;
  requireApprover: boolean;
  requirePipelineRun: boolean;
  separationOfDuties: boolean;
  scriptManagers: ReadonlySet<string>;
  trustedManagers: ReadonlySet<string>;
  trustedUsers: ReadonlySet<string>;
  trustedGroups: ReadonlySet<string>;
  breakGlass?: { annotation: string; groups: ReadonlySet<string> };
  /** Anchored form of the commit pattern, and the pattern as written (for messages). */
  commitPattern: RegExp;
  commitPatternSource: string;
  signedApproval?: CompiledSignedApproval;
}

/** `signedApproval` compiled: absent lists accept every trusted key or issuer. */
export interface CompiledSignedApproval {
  require: 'signed' | 'warn';
  keys?: ReadonlySet<string>;
  issuers?: ReadonlySet<string>;
  /** Where the approval and the CI token travel (under the annotation prefix), for messages. */
  annotations?: { approval: string; ciToken: string };
}

export interface CompiledRevisionHistoryRule {
  minimum: number;
}

export type CompiledCheck =
  | { type: 'images'; spec: CompiledImagesRule }
  | { type: 'resources'; spec: CompiledResourcesRule }
  | { type: 'metadata'; spec: CompiledMetadataRule }
  | { type: 'provenance'; spec: CompiledProvenanceRule }
  | { type: 'revisionHistory'; spec: CompiledRevisionHistoryRule };

export interface CompiledRule {
  id: string;
  description?: string;
  action: Action;
  message?: string;
  fix?: string;
  onUpdate: 'always' | 'changed';
  check: CompiledCheck;
}

export interface CompiledMatch {
  kinds?: ReadonlySet<string>;
  namespaces?: readonly RegExp[];
  excludeNamespaces?: readonly RegExp[];
  tenants?: readonly RegExp[];
  excludeTenants?: readonly RegExp[];
  labelSelector?: LabelSelector;
  operations?: ReadonlySet<string>;
}

/** A loaded, validated and compiled policy: immutable, shared by every evaluation. */
export interface CompiledPolicy {
  name: string;
  version: string;
  description?: string;
  /** `sha256:<hex>` of the canonical JSON of the document: formatting and comments do not change it. */
  digest: string;
  source: PolicySource;
  document: PolicyDocument;
  match: CompiledMatch;
  rules: readonly CompiledRule[];
}

/** Policies in force, in a stable order (by name). */
export interface PolicySet {
  policies: readonly CompiledPolicy[];
  /** `sha256:<hex>` over every policy digest: one value that names the whole set. */
  digest: string;
}

// ---- evaluation ----

/** Who is making the change and how, as the apiserver reports it (or as `check` assumes it). */
export interface RequestContext {
  operation: Operation;
  namespace: string;
  tenant?: string;
  username: string;
  groups: readonly string[];
  /** `options.fieldManager`, or the manager inferred from managedFields; undefined when unknown. */
  fieldManager?: string;
  subResource?: string;
  dryRun?: boolean;
  /**
   * False when the old object's gate stamps (authentic) were made for another pod template than the one
   * it has now (a write past the gate changed it since) and this change returns to the template they were
   * made for: their commits are then no baseline for it. Absent: they are, or there are none to judge.
   */
  oldStampsCurrent?: boolean;
  /**
   * The signed approval and CI token the object carries, verified at the edge (the admission handler)
   * before evaluation: the pure provenance rule reads only this verdict. Absent when the object carries
   * neither (or nothing verified them: `tracegate check`).
   */
  approval?: ApprovalEvidence;
}

/** A verification's outcome as the rule sees it: the statement, or the one-line reason it failed. */
export type Verified<T> = { ok: true; statement: T } | { ok: false; reason: string };

/** What the edge verified on one request. */
export interface ApprovalEvidence {
  /** The approval annotation (a signed JWS), when present. */
  approval?: Verified<ApprovalStatement>;
  /** The CI identity token annotation, when present. */
  ciToken?: Verified<CiStatement>;
}

export interface Violation {
  rule: string;
  policy: string;
  policyVersion: string;
  action: Action;
  /** Container name, when the problem is about one container. */
  container?: string;
  /** Volume name, when the problem is about one image volume. */
  volume?: string;
  containerList?: ImageSourceList;
  /** Path of the offending field, kubectl style: `spec.template.spec.containers[0].image`. */
  path: string;
  /** Offending value as text (never a Secret or env value); undefined when the field is missing. */
  value?: string;
  message: string;
  fix: string;
}

export type Verdict = 'allow' | 'warn' | 'deny';

export interface EvaluationResult {
  verdict: Verdict;
  violations: Violation[];
  /** Policies that selected this object (name, version, digest), in evaluation order. */
  applied: { name: string; version: string; digest: string }[];
  /** True when the request changed the pod template (CREATE counts as a change). */
  templateChanged: boolean;
  /** Human summary of what changed in the pod template, e.g. `image web: nginx:1.26 → nginx:1.27`. */
  changes: string[];
  /** Break-glass used: the annotation's value and who used it. */
  breakGlass?: { reason: string; user: string };
}
