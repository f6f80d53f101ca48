/**
 * The one place that answers "who changed what, per tenant, over a period": ChangeTrail objects read
 * page by page through the API (list with limit/continue), each workload's archives read only as far
 * back as the period needs, optionally joined with the Helm release records, reduced to the rows in
 * scope and period as each page arrives. Memory is bounded by one page of trail objects, one
 * workload's archives within the period, the few release histories kept for reuse (each bounded by
 * the storage's read limits), and twice the row cap (rows beyond it are dropped as they come).
 */
import type { CustomObjectsApi } from '@kubernetes/client-node';
import { kubeApiError, statusOf } from '../kube/api-error.js';
import { DEFAULT_ANNOTATION_PREFIX } from '../policy/defaults.js';
import type { StoredRelease } from '../recorder/storage.js';
import { TRAIL_GROUP, TRAIL_PLURAL, TRAIL_VERSION, type TrailObject } from '../recorder/trail.js';
import { compareKeyed, joinableRelease, limitOf, matchingKeyedRows, mergeKeyed, releaseKey, selectRows, type ChangeQuery, type ChangeResult, type ChangeRow, type KeyedRow } from './rows.js';

export { changeRowsOf, MAX_ROWS, type ChangeQuery, type ChangeResult, type ChangeRow } from './rows.js';

/** Reads change rows. */
export interface ChangeSource {
  /** The rows of `q`, sorted by time, at most its limit (see {@link ChangeSource.query} for whether the cap cut). */
  changes(q: ChangeQuery): Promise<ChangeRow[]>;
  /** The rows and whether the cap cut them (`truncated`, `nextSince`). */
  query(q: ChangeQuery): Promise<ChangeResult>;
}

/** The CustomObjectsApi calls the source makes; a real client or a test fake. */
export type TrailReadApi = Pick<CustomObjectsApi, 'listClusterCustomObject' | 'listNamespacedCustomObject' | 'getNamespacedCustomObject'>;

/** Inputs of {@link createChangeSource}. */
export interface ChangeSourceDeps {
  trails: TrailReadApi;
  /** The annotation and label prefix (tracegate.io/). */
  prefix?: string;
  /** Trail objects per list request. */
  pageSize?: number;
  /**
   * A release's Helm records, or undefined when they cannot be read (no `list secrets` there). Without
   * it rows carry the trail's own statuses (recorded, deleted).
   */
  releases?: (namespace: string, name: string) => Promise<readonly StoredRelease[] | undefined>;
}

/**
 * Trail objects per page. An object holds at most 500 entries (~250 KB), so a page stays within
 * ~12 MB even when every object is full; client-go lists 500 small objects per page.
 */
export const DEFAULT_PAGE_SIZE = 50;

/**
 * Release histories kept for the next trails: the workloads of one chart are listed next to each
 * other (trail names sort by kind and name, a chart's usually share a prefix); every history kept is
 * up to the storage's read budget, so only a couple are, never every release of the query.
 */
const RELEASES_KEPT = 2;

const coordinates = { group: TRAIL_GROUP, version: TRAIL_VERSION, plural: TRAIL_PLURAL };
const NOT_FOUND = 404;
/** A label value (trailLabels labels only tenants that are one); another tenant name is matched after reading. */
const LABEL_VALUE = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;

interface TrailList {
  items?: TrailObject[];
  metadata?: { continue?: string };
}

/** Creates the source over the cluster's ChangeTrail objects. */
export function createChangeSource(deps: ChangeSourceDeps): ChangeSource {
  const prefix = deps.prefix ?? DEFAULT_ANNOTATION_PREFIX;
  const pageSize = deps.pageSize ?? DEFAULT_PAGE_SIZE;
  const api = deps.trails;

  async function list(namespace: string | undefined, labelSelector: string | undefined, cont: string | undefined): Promise<TrailList> {
    const params = { ...coordinates, limit: pageSize, ...(labelSelector ? { labelSelector } : {}), ...(cont ? { _continue: cont } : {}) };
    try {
      return (namespace === undefined ? await api.listClusterCustomObject(params) : await api.listNamespacedCustomObject({ ...params, namespace })) as TrailList;
    } catch (err) {
      // No ChangeTrail resource (CRD not installed): nothing was ever recorded.
      if (statusOf(err) === NOT_FOUND) return {};
      throw kubeApiError('list', `ChangeTrails${namespace === undefined ? '' : ` in ${namespace}`}`, err);
    }
  }

  async function get(namespace: string, name: string): Promise<TrailObject | undefined> {
    try {
      return (await api.getNamespacedCustomObject({ ...coordinates, namespace, name })) as TrailObject;
    } catch (err) {
      if (statusOf(err) === NOT_FOUND) return undefined;
      throw kubeApiError('get', `ChangeTrail ${namespace}/${name}`, err);
    }
  }

  /**
   * The archives of `head` the period needs, newest first until one starts before `since` (it holds
   * the entry before the period's first, whose images are the first row's "before"). Entries are
   * appended in time order, so older archives hold only older entries.
   */
  async function archivesFor(head: TrailObject, q: ChangeQuery): Promise<TrailObject[]> {
    const names = head.spec.archives ?? [];
    const since = q.since?.getTime();
    const startsBefore = (o: TrailObject) => since !== undefined && o.spec.entries.length > 0 && Date.parse(o.spec.entries[0]!.time) < since;
    if (names.length === 0 || startsBefore(head)) return [];
    const out: TrailObject[] = [];
    for (let i = names.length - 1; i >= 0; i--) {
      const archive = await get(head.metadata.namespace, names[i]!);
      if (!archive?.spec?.entries) continue;
      out.push(archive);
      if (startsBefore(archive)) break;
    }
    return out;
  }

  async function helmFor(head: TrailObject, q: ChangeQuery, reads: Map<string, Promise<readonly StoredRelease[] | undefined>>): Promise<Map<string, readonly StoredRelease[]> | undefined> {
    // Only a release in the trail's own namespace (rows.ts joins no other either).
    const release = joinableRelease(head);
    if (!deps.releases || !release) return undefined;
    if (q.helmNamespaces !== undefined && !q.helmNamespaces.includes(release.namespace)) return undefined;
    const key = releaseKey(release);
    // Several workloads of one chart share a release: reuse a recent read (most recent last).
    let pending = reads.get(key);
    if (pending) reads.delete(key);
    else pending = readSlim(release.namespace, release.name);
    reads.set(key, pending);
    while (reads.size > RELEASES_KEPT) reads.delete(reads.keys().next().value!);
    const history = await pending;
    return history ? new Map([[key, history]]) : undefined;
  }

  /** What rows read of a record: the chart's templates, values and hooks are dropped as soon as read. */
  const slim = (s: StoredRelease): StoredRelease => {
    const { name, namespace, version, info, manifest, chart } = s.release;
    const metadata = chart?.metadata;
    return { release: { name, namespace, version, info, manifest, ...(metadata ? { chart: { metadata } } : {}) } as StoredRelease['release'], labels: s.labels };
  };
  const readSlim = async (namespace: string, name: string) => (await deps.releases!(namespace, name))?.map(slim);

  async function query(q: ChangeQuery): Promise<ChangeResult> {
    const limit = limitOf(q);
    // One more than the limit tells whether the cap cut, and where the next part starts.
    const keep = limit + 1;
    // The earliest `keep` rows so far, and rows not merged in yet (merged once as many have come):
    // each row's time is parsed once, and no step sorts more than `keep` rows.
    let kept: KeyedRow[] = [];
    let pending: KeyedRow[] = [];
    const flush = () => {
      kept = mergeKeyed(kept, pending.sort(compareKeyed), keep);
      pending = [];
    };
    const reads = new Map<string, Promise<readonly StoredRelease[] | undefined>>();
    // Cluster-wide, a tenant is selected by the trails' label; within namespaces, every trail is read
    // and its tenant judged like the pure core does (a trail whose tenant is not a valid label value has no label).
    const scopes: (string | undefined)[] = q.namespaces === undefined ? [undefined] : [...new Set(q.namespaces)];
    const selector = q.namespaces === undefined && q.tenant !== undefined && LABEL_VALUE.test(q.tenant) ? `${prefix}tenant=${q.tenant}` : undefined;
    for (const namespace of scopes) {
      let cont: string | undefined;
      do {
        const page = await list(namespace, selector, cont);
        for (const head of page.items ?? []) {
          // Archives are read through their head, only as far back as the period needs.
          if (!head?.spec?.workload || head.spec.sealed) continue;
          const objects = [head, ...(await archivesFor(head, q))];
          const helm = await helmFor(head, q, reads);
          for (const k of matchingKeyedRows(objects, q, { prefix, ...(helm ? { helm } : {}) })) {
            // Not before the last kept row: the cap would cut it anyway.
            if (kept.length >= keep && compareKeyed(k, kept[keep - 1]!) >= 0) continue;
            pending.push(k);
            if (pending.length >= keep) flush();
          }
        }
        cont = page.metadata?.continue || undefined;
      } while (cont);
    }
    flush();
    return selectRows(
      kept.map((k) => k.row),
      limit,
    );
  }

  return {
    query,
    async changes(q) {
      return (await query(q)).rows;
    },
  };
}
