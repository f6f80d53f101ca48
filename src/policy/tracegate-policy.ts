/**
 * The cluster form of a policy: a `TracegatePolicy` object (CRD tracegatepolicies.tracegate.io) is a
 * policy file's document with `kind: TracegatePolicy`, except that its metadata is Kubernetes
 * ObjectMeta, which has no `version`, `description` or `owner` (the apiserver would drop or refuse
 * them): a TracegatePolicy carries those three in `spec`. Pure: object in, the `Policy` document the
 * schema and the compiler take out, and the way back.
 */
import { isRecord } from '../k8s/types.js';
import type { PolicyDocument } from './types.js';

/** The CRD's names, shared by the generator, the gate's watch and the CLI. */
export const TRACEGATE_POLICY = Object.freeze({
  group: 'tracegate.io',
  version: 'v1alpha1',
  apiVersion: 'tracegate.io/v1alpha1',
  kind: 'TracegatePolicy',
  listKind: 'TracegatePolicyList',
  plural: 'tracegatepolicies',
  singular: 'tracegatepolicy',
  shortNames: ['tgp'],
});

/** The document fields a TracegatePolicy moves from `metadata` to `spec`. */
export const SPEC_METADATA_FIELDS = ['version', 'description', 'owner'] as const;

/**
 * metav1.ObjectMeta's fields: a TracegatePolicy's metadata may hold any of them (the apiserver fills
 * most); only `name` is part of the policy.
 */
const OBJECT_META_FIELDS: ReadonlySet<string> = new Set([
  'name',
  'generateName',
  'namespace',
  'selfLink',
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'labels',
  'annotations',
  'ownerReferences',
  'finalizers',
  'managedFields',
]);

/** A conversion problem: the path inside the object as written, and what is wrong. */
export interface ObjectProblem {
  path: string;
  message: string;
}

/** True when a parsed document is a TracegatePolicy (by kind; the schema then checks the rest). */
export function isTracegatePolicy(value: unknown): value is Record<string, unknown> {
  return isRecord(value) && value['kind'] === TRACEGATE_POLICY.kind;
}

/**
 * The `Policy` document of a TracegatePolicy: kind `Policy`, metadata `name` plus spec's version,
 * description and owner, spec without them; status and ObjectMeta's other fields are left out.
 * Fields ObjectMeta does not have are problems (a cluster would not keep them). Values are not
 * checked here: the policy schema does that, on the returned document, and {@link objectPath} turns
 * its paths back into the object's.
 */
export function policyDocumentOf(obj: Record<string, unknown>): { doc: Record<string, unknown>; problems: ObjectProblem[] } {
  const problems: ObjectProblem[] = [];
  const doc: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(obj)) {
    if (key === 'status') continue;
    doc[key] = value;
  }
  doc['kind'] = 'Policy';
  const meta = obj['metadata'];
  const spec = obj['spec'];
  if (isRecord(meta)) {
    const out: Record<string, unknown> = {};
    if (meta['name'] !== undefined) out['name'] = meta['name'];
    for (const key of Object.keys(meta)) {
      if (OBJECT_META_FIELDS.has(key)) continue;
      const where = (SPEC_METADATA_FIELDS as readonly string[]).includes(key) ? `; a TracegatePolicy carries it in spec.${key}` : '';
      problems.push({ path: `metadata.${key}`, message: `unknown field ${JSON.stringify(key)}: a TracegatePolicy's metadata is Kubernetes ObjectMeta${where}` });
    }
    if (isRecord(spec)) for (const f of SPEC_METADATA_FIELDS) if (spec[f] !== undefined) out[f] = spec[f];
    doc['metadata'] = out;
  }
  if (isRecord(spec)) {
    const rest: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(spec)) if (!(SPEC_METADATA_FIELDS as readonly string[]).includes(key)) rest[key] = value;
    doc['spec'] = rest;
  }
  return { doc, problems };
}

/** A path in the converted document as the TracegatePolicy's path: `metadata.version` → `spec.version`. */
export function objectPath(path: string): string {
  for (const f of SPEC_METADATA_FIELDS) {
    const from = `metadata.${f}`;
    if (path === from || path.startsWith(`${from}.`) || path.startsWith(`${from}[`)) return `spec.${f}${path.slice(from.length)}`;
  }
  return path;
}

/** A TracegatePolicy object (for `kubectl apply`) from a policy document: the way back. */
export function toTracegatePolicy(doc: PolicyDocument): Record<string, unknown> {
  const spec: Record<string, unknown> = {};
  for (const f of SPEC_METADATA_FIELDS) if (doc.metadata[f] !== undefined) spec[f] = doc.metadata[f];
  Object.assign(spec, doc.spec);
  return { apiVersion: TRACEGATE_POLICY.apiVersion, kind: TRACEGATE_POLICY.kind, metadata: { name: doc.metadata.name }, spec };
}
