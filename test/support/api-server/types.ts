/**
 * Public shapes of the test API server: what an admission hook receives and answers, what the request
 * log holds, and the plain JSON object type the server stores.
 */

/** Any Kubernetes object as JSON; the server never trusts its shape. */
export type JsonObject = Record<string, unknown>;

/** The AdmissionReview triples, shared with the gate's own types. */
export type { GroupVersionKind, GroupVersionResource } from '../../../src/admission/types.js';
import type { GroupVersionKind, GroupVersionResource } from '../../../src/admission/types.js';

/** The authenticated user of a request (after impersonation). */
export interface UserInfo {
  username: string;
  groups: string[];
}

/**
 * `CreateOptions` / `UpdateOptions` / `DeleteOptions` as the apiserver puts them in an AdmissionReview:
 * a PATCH shows up as Update or Create options, `force` is never visible.
 */
export interface AdmissionOptions {
  kind?: 'CreateOptions' | 'UpdateOptions' | 'DeleteOptions';
  apiVersion?: 'meta.k8s.io/v1';
  fieldManager?: string;
  fieldValidation?: string;
  dryRun?: string[];
  propagationPolicy?: string;
  gracePeriodSeconds?: number;
}

/** What the admission hook is asked about; mirrors AdmissionReview v1 `request` minus `uid`. */
export interface AdmissionHookRequest {
  operation: 'CREATE' | 'UPDATE' | 'DELETE';
  kind: GroupVersionKind;
  resource: GroupVersionResource;
  subResource?: string;
  namespace: string;
  /** `''` for a `generateName` create: the apiserver picks the name after the mutating stage. */
  name: string;
  /** The object after patching, defaulting and managedFields (mutating-stage view); `null` on DELETE. */
  object: any | null;
  /** The stored object before the change; `null` on CREATE. */
  oldObject: any | null;
  userInfo: UserInfo;
  dryRun: boolean;
  options: AdmissionOptions | null;
}

/** A hook's answer: allow with the (possibly mutated) object to store, or deny with a Status. */
export type AdmissionHookResult =
  | { allowed: true; object: any; warnings?: string[] }
  | { allowed: false; status: { code: number; message: string; reason?: string; details?: JsonObject }; warnings?: string[] };

/**
 * The whole admission chain as one function (the e2e chain plugs in here). Called for create, update,
 * patch and delete of the pod-bearing kinds (Pods, ReplicationControllers, Deployments, ReplicaSets,
 * StatefulSets, DaemonSets, Jobs, CronJobs) and of custom resources, including their `scale`, `status`
 * and `ephemeralcontainers` subresources.
 */
export type AdmissionHook = (req: AdmissionHookRequest) => Promise<AdmissionHookResult>;

/** One served request, appended when the response is finished. */
export interface RequestLogEntry {
  method: string;
  path: string;
  query: Record<string, string>;
  contentType: string;
  accept: string;
  userAgent: string;
  /** `''` when the request was not authenticated. */
  user: string;
  status: number;
  /** The FlowSchema and priority level API Priority and Fairness classified the request into. */
  flowSchema?: string;
  priorityLevel?: string;
  /** The decoded body of a write: parsed JSON, decoded protobuf, or the raw text of a YAML apply patch. */
  body?: unknown;
}

/** What an {@link ObjectCheck} is shown of a write. */
export interface ObjectCheckTarget {
  group: string;
  version: string;
  resource: string;
  kind: string;
}

/**
 * An extra validation of built-in writes, run after the server's own (a test's stand-in for validation
 * the server does not model itself, e.g. the CEL in admission configurations): field errors
 * (`field` a path, `message` the rest of the apiserver's `<path>: <message>`) refuse the write with the
 * usual 422 `<Kind>.<group> "<name>" is invalid: …`.
 */
export type ObjectCheck = (target: ObjectCheckTarget, obj: JsonObject, old: JsonObject | undefined) => { field: string; message: string }[];
