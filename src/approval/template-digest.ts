/**
 * What an approval binds: the digest of a workload's pod template and its image list, computed so that
 * a manifest file (before the apiserver defaulted it) and the admitted object give the same answer.
 * Pure.
 */
import { createHash } from 'node:crypto';
import { isRecord, type KubeObject } from '../k8s/types.js';
import { DEFAULT_ANNOTATION_PREFIX } from '../policy/defaults.js';
import { canonicalJson } from '../policy/digest.js';
import { parseQuantity } from '../quantities/index.js';
import { changeViewOf } from '../workload/pod-template.js';
import { withoutTemplateDefaults } from '../workload/defaults.js';
import type { ApprovalExpectation } from './statement.js';

// Quantities are stored to nano precision (apimachinery's resource.Quantity), so a value's decimal form ends within 9 places.
const NANO_DIGITS = 9;
const NANO = 10n ** BigInt(NANO_DIGITS);

/**
 * A quantity by its value, so `0.5`, `500m` and `"0.5"` digest alike: the apiserver rewrites every
 * quantity into its canonical form (`500m`), which a manifest does not have to use. Unparsable text
 * stays as written (the apiserver would have refused it anyway).
 */
function quantityValue(raw: unknown): unknown {
  const q = parseQuantity(raw);
  if (!q.ok) return raw;
  const { num, den } = q.value;
  if (NANO % den !== 0n) return `${num}/${den}`;
  const negative = num < 0n;
  const abs = negative ? -num : num;
  const whole = abs / den;
  const frac = (((abs % den) * NANO) / den).toString().padStart(NANO_DIGITS, '0').replace(/0+$/, '');
  return `${negative ? '-' : ''}${whole}${frac ? `.${frac}` : ''}`;
}

function quantityMap(map: unknown): void {
  if (isRecord(map)) for (const [k, v] of Object.entries(map)) map[k] = quantityValue(v);
}

/**
 * Drops `[]` members everywhere: Kubernetes cannot tell an empty list from an absent one (its JSON
 * tags are `omitempty` and protobuf storage has no empty repeated field), and charts often render `env: []`.
 */
function dropEmptyLists(value: unknown): void {
  if (Array.isArray(value)) {
    for (const v of value) dropEmptyLists(v);
    return;
  }
  if (!isRecord(value)) return;
  for (const [k, v] of Object.entries(value)) {
    if (Array.isArray(v) && v.length === 0) delete value[k];
    else dropEmptyLists(v);
  }
}

// Map-typed fields, where `{}` and absent are one value (Go maps are `omitempty`); struct-typed `{}` (emptyDir) means something.
function dropEmptyMap(obj: Record<string, unknown>, key: string): void {
  const v = obj[key];
  if (isRecord(v) && Object.keys(v).length === 0) delete obj[key];
}

function normaliseResources(resources: unknown): void {
  if (!isRecord(resources)) return;
  for (const key of ['limits', 'requests']) {
    quantityMap(resources[key]);
    dropEmptyMap(resources, key);
  }
}

// SetDefaults_ServiceAccountTokenProjection (k8s.io/kubernetes pkg/apis/core/v1/defaults.go): one hour.
const DEFAULT_TOKEN_SECONDS = 3600;

/**
 * A volume with what the apiserver defaults there taken out: a source-less volume becomes `emptyDir: {}`
 * (SetDefaults_Volume), so `emptyDir: {}` and no source are one volume; a projected token lives an hour
 * unless it says otherwise (SetDefaults_ServiceAccountTokenProjection).
 */
function normaliseVolume(v: Record<string, unknown>): void {
  if (isRecord(v.emptyDir)) {
    if (v.emptyDir.sizeLimit !== undefined) v.emptyDir.sizeLimit = quantityValue(v.emptyDir.sizeLimit);
    if (Object.keys(v.emptyDir).length === 0) delete v.emptyDir;
  }
  const sources = isRecord(v.projected) && Array.isArray(v.projected.sources) ? v.projected.sources : [];
  for (const source of sources) {
    const token = isRecord(source) ? source.serviceAccountToken : undefined;
    if (isRecord(token) && token.expirationSeconds === DEFAULT_TOKEN_SECONDS) delete token.expirationSeconds;
  }
}

/**
 * The pod template an approval's digest covers: the change view of the workload (a Pod's spec, a Job's
 * template without generated labels), without the apiserver's defaults, without annotations under
 * tracegate's prefix (the gate writes its stamps there) and kubectl's restartedAt, with quantities by
 * value, empty lists and maps dropped, and the volume defaults withoutTemplateDefaults leaves in.
 */
export function approvalTemplateView(obj: KubeObject, prefix: string = DEFAULT_ANNOTATION_PREFIX): Record<string, unknown> {
  const view = JSON.parse(JSON.stringify(changeViewOf(obj) ?? {})) as Record<string, unknown>;
  dropEmptyLists(view);
  const meta = view.metadata;
  if (isRecord(meta)) {
    if (isRecord(meta.annotations)) for (const key of Object.keys(meta.annotations)) if (key.startsWith(prefix)) delete meta.annotations[key];
    dropEmptyMap(meta, 'annotations');
    dropEmptyMap(meta, 'labels');
  }
  const spec = view.spec;
  if (isRecord(spec)) {
    dropEmptyMap(spec, 'nodeSelector');
    quantityMap(spec.overhead);
    dropEmptyMap(spec, 'overhead');
    normaliseResources(spec.resources);
    for (const list of ['containers', 'initContainers', 'ephemeralContainers']) {
      const containers = spec[list];
      if (Array.isArray(containers)) for (const c of containers) if (isRecord(c)) normaliseResources(c.resources);
    }
    if (Array.isArray(spec.volumes)) for (const v of spec.volumes) if (isRecord(v)) normaliseVolume(v);
  }
  // Last: it removes what is empty only after the steps above (resources {}, annotations {}, metadata {}).
  return withoutTemplateDefaults(view);
}

/**
 * sha256 (hex) of the canonical JSON of {@link approvalTemplateView}: what an approval's `template`
 * claim must equal. A manifest and the same workload as admitted (defaulted, stamped) digest alike.
 */
export function approvalTemplateDigest(obj: KubeObject, prefix: string = DEFAULT_ANNOTATION_PREFIX): string {
  return createHash('sha256').update(canonicalJson(approvalTemplateView(obj, prefix))).digest('hex');
}

/**
 * The workload's images as `container=image`, containers and init containers, sorted: what an
 * approval's `images` claim must equal. Ephemeral containers (`kubectl debug`) are not part of it.
 */
export function approvalImages(obj: KubeObject): string[] {
  const spec = changeViewOf(obj)?.spec;
  const out: string[] = [];
  for (const list of ['containers', 'initContainers'] as const) {
    for (const c of spec?.[list] ?? []) if (isRecord(c)) out.push(`${String(c.name ?? '')}=${String(c.image ?? '')}`);
  }
  return out.sort();
}

/** What an approval for `obj` in `tenant` must bind (namespace defaults to the object's). */
export function approvalExpectationOf(obj: KubeObject, tenant: string, prefix: string = DEFAULT_ANNOTATION_PREFIX): ApprovalExpectation {
  return {
    tenant,
    namespace: obj.metadata?.namespace ?? '',
    kind: obj.kind ?? '',
    name: obj.metadata?.name ?? '',
    template: approvalTemplateDigest(obj, prefix),
    images: approvalImages(obj),
  };
}
