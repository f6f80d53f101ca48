/**
 * One workload's record as its readers read it (`tracegate history`, the web view): the live object,
 * the trail, and the Helm release it belongs to — only ever a release in the workload's own
 * namespace. Helm's `meta.helm.sh/release-namespace` annotation (and a trail's `spec.release`, which
 * the recorder copied from it) is written by whoever may edit the workload, so a release elsewhere —
 * another tenant's — is never read: the view reads Secrets cluster-wide, and would otherwise show it.
 * Release records are read through a storage with the readers' limits (secret-driver.ts).
 */
import { CustomObjectsApi, KubernetesObjectApi, type KubeConfig } from '@kubernetes/client-node';
import type { KubeObject } from '../k8s/types.js';
import { kubeApiError, statusOf } from '../kube/api-error.js';
import { ownershipOf } from './ownership.js';
import { defaultAdoptedName, releaseOf, type ReleaseRef } from './record-context.js';
import type { ReleaseStorage, StoredRelease } from './storage.js';
import type { TrailObject } from './trail.js';
import { createTrailStore } from './trail-store.js';
import { findWorkloadDoc } from './workload-patch.js';
import { apiVersionOf, type WorkloadKindInfo } from '../workload/kinds.js';
import { splitManifest } from '../yaml/manifest-doc.js';

const NOT_FOUND = 404;
/** Helm's release-name cap less the suffix: how the recorder renames an adopted name a foreign release used. */
const ADOPTED_RENAME_PREFIX = 43;

/** A workload as the view names it, its kind resolved. */
export interface WorkloadRefOf {
  namespace: string;
  name: string;
  kind: WorkloadKindInfo;
}

/** The live object, trail and (same-namespace) release of a workload; no release records yet. */
export interface WorkloadBasics {
  live?: KubeObject;
  trail: TrailObject[];
  release?: ReleaseRef;
  owner?: string;
}

async function readLive(kc: KubeConfig, ref: WorkloadRefOf): Promise<KubeObject | undefined> {
  try {
    const obj = await KubernetesObjectApi.makeApiClient(kc).read({ apiVersion: apiVersionOf(ref.kind), kind: ref.kind.kind, metadata: { name: ref.name, namespace: ref.namespace } });
    return { ...(JSON.parse(JSON.stringify(obj)) as KubeObject), apiVersion: apiVersionOf(ref.kind), kind: ref.kind.kind };
  } catch (err) {
    if (statusOf(err) === NOT_FOUND) return undefined;
    throw kubeApiError('get', `${ref.kind.kind} ${ref.namespace}/${ref.name}`, err);
  }
}


/** Reads the live object and the trail, and names the release (never one in another namespace). */
export async function readWorkloadBasics(kc: KubeConfig, ref: WorkloadRefOf, prefix: string): Promise<WorkloadBasics> {
  const live = await readLive(kc, ref);
  const trail = await createTrailStore({ api: kc.makeApiClient(CustomObjectsApi), prefix }).all({ namespace: ref.namespace, kind: ref.kind.kind, name: ref.name });
  const head = trail.find((t) => !t.spec.sealed);
  const ownership = live ? ownershipOf(live) : undefined;
  const owner = ownership?.type === 'managed' ? ownership.by : ownership === undefined ? head?.spec.owner : undefined;
  let release: ReleaseRef | undefined;
  // ownershipOf makes a release named in another namespace 'managed': releaseOf is then never asked.
  if (live && ownership?.type !== 'managed') release = releaseOf(live, defaultAdoptedName);
  // A deleted workload's trail remembers its release; one written before the recorder refused
  // foreign releases may name another namespace's, which is not read.
  else if (!live && head?.spec.release && head.spec.release.namespace === ref.namespace) release = { ...head.spec.release, adopted: false };
  return { ...(live ? { live } : {}), trail, ...(release ? { release } : {}), ...(owner ? { owner } : {}) };
}

/** An adopted name a foreign release already used: the recorder recorded under `<name>-tracegate`. */
function renamed(release: ReleaseRef): ReleaseRef {
  return { ...release, name: `${release.name.slice(0, ADOPTED_RENAME_PREFIX)}-tracegate` };
}

/** The release's history (as `tracegate history` reads it, the adopted rename included). */
export async function readReleaseHistory(storage: ReleaseStorage, release: ReleaseRef): Promise<{ release: ReleaseRef; history: StoredRelease[] }> {
  const history = await storage.history(release.namespace, release.name);
  if (release.adopted && !history.length) {
    const other = renamed(release);
    const more = await storage.history(other.namespace, other.name);
    if (more.length) return { release: other, history: more };
  }
  return { release, history };
}

/** One revision of the release, read on its own (never the whole history). */
export async function readRevision(storage: ReleaseStorage, release: ReleaseRef, revision: number): Promise<StoredRelease | undefined> {
  const found = await storage.get(release.namespace, release.name, revision);
  if (found || !release.adopted) return found;
  const other = renamed(release);
  return storage.get(other.namespace, other.name, revision);
}

/**
 * Whether a revision's manifest holds this workload: its kind, name and namespace (a document without
 * a namespace is the release's, which is the workload's). A revision that does not is another
 * workload's, and its manifest is not this workload's to show.
 */
export function holdsWorkload(record: StoredRelease, ref: { namespace: string; kind: string; name: string }): boolean {
  if (record.release.namespace !== undefined && record.release.namespace !== ref.namespace) return false;
  const manifest = record.release.manifest;
  return manifest ? findWorkloadDoc(splitManifest(manifest), ref.kind, ref.name, ref.namespace) !== undefined : false;
}
