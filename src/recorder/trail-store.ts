/**
 * Where change trails live: `ChangeTrail` objects (tracegate.io/v1alpha1), read and written through
 * client-node's CustomObjectsApi. Writes carry the resourceVersion they read, so two writers never
 * lose each other's entries (a 409 is re-read and appended again).
 */
import type { CustomObjectsApi } from '@kubernetes/client-node';
import { kubeApiError, statusOf } from '../kube/api-error.js';
import { appendEntry, trailKey, trailName, TRAIL_GROUP, TRAIL_PLURAL, TRAIL_VERSION, type TrailEntry, type TrailObject, type TrailRef } from './trail.js';

/** The CustomObjectsApi calls the store makes; a real client or a test fake. */
export type TrailApi = Pick<CustomObjectsApi, 'getNamespacedCustomObject' | 'listNamespacedCustomObject' | 'createNamespacedCustomObject' | 'replaceNamespacedCustomObject'>;

/** Reading and appending to workloads' trails. */
export interface TrailStore {
  /** The head object of a workload's trail; undefined when there is none yet. */
  head(ref: TrailRef): Promise<TrailObject | undefined>;
  /** Every trail object of a workload (head and archives). */
  all(ref: TrailRef): Promise<TrailObject[]>;
  /**
   * Appends the entry `build` makes from the current head (undefined: nothing to add), retrying on a
   * concurrent write. Resolves with what was appended.
   */
  append(ref: TrailRef, build: (head: TrailObject | undefined) => { entry: TrailEntry; opts: Omit<Parameters<typeof appendEntry>[2], 'ref'> } | undefined): Promise<TrailEntry | undefined>;
  /**
   * Rewrites the head as `change` makes it from the current one (undefined: leave it), retrying on a
   * concurrent write. Resolves with whether it wrote.
   */
  amend(ref: TrailRef, change: (head: TrailObject | undefined) => TrailObject | undefined): Promise<boolean>;
}

const NOT_FOUND = 404;

/**
 * The ChangeTrail resource is not served (its CRD is not installed): creating a trail object answers 404,
 * which for a create can only mean the resource or the namespace is missing.
 */
export class TrailUnavailableError extends Error {
  constructor(cause: unknown) {
    super('the ChangeTrail resource (changetrails.tracegate.io) is not served: install manifests/crds/changetrail.yaml', { cause });
    this.name = 'TrailUnavailableError';
  }
}
const CONFLICT = 409;
/** A workload's trail is written by one leader; more than a few conflicts in a row means something is wrong. */
const MAX_CONFLICTS = 5;

const coordinates = { group: TRAIL_GROUP, version: TRAIL_VERSION, plural: TRAIL_PLURAL };

/** Creates a store over the cluster's ChangeTrail objects. */
export function createTrailStore(deps: { api: TrailApi; prefix: string }): TrailStore {
  const { api, prefix } = deps;

  async function head(ref: TrailRef): Promise<TrailObject | undefined> {
    const name = trailName(ref);
    try {
      return (await api.getNamespacedCustomObject({ ...coordinates, namespace: ref.namespace, name })) as TrailObject;
    } catch (err) {
      if (statusOf(err) === NOT_FOUND) return undefined;
      throw kubeApiError('get', `ChangeTrail ${ref.namespace}/${name}`, err);
    }
  }

  async function write(op: 'create' | 'replace', obj: TrailObject): Promise<void> {
    const { namespace, name } = obj.metadata;
    try {
      if (op === 'create') await api.createNamespacedCustomObject({ ...coordinates, namespace, body: obj });
      else await api.replaceNamespacedCustomObject({ ...coordinates, namespace, name, body: obj });
    } catch (err) {
      if (op === 'create' && statusOf(err) === NOT_FOUND) throw new TrailUnavailableError(err);
      throw kubeApiError(op, `ChangeTrail ${namespace}/${name}`, err);
    }
  }

  return {
    head,
    async all(ref) {
      try {
        const list = (await api.listNamespacedCustomObject({ ...coordinates, namespace: ref.namespace, labelSelector: `${prefix}trail-key=${trailKey(ref)}` })) as { items?: TrailObject[] };
        // The key is a hash prefix: keep only this workload's objects.
        return (list.items ?? []).filter((o) => o.spec?.workload?.kind === ref.kind && o.spec.workload.name === ref.name);
      } catch (err) {
        if (statusOf(err) === NOT_FOUND) return [];
        throw kubeApiError('list', `ChangeTrails in ${ref.namespace}`, err);
      }
    },
    async append(ref, build) {
      for (let attempt = 1; ; attempt++) {
        const current = await head(ref);
        const next = build(current);
        if (!next) return undefined;
        const { head: updated, archive } = appendEntry(current, next.entry, { ...next.opts, ref });
        try {
          if (archive) {
            // An archive that exists already was written by an attempt that crashed before the head: same entries.
            await write('create', archive).catch((err: unknown) => {
              if (statusOf(err) !== CONFLICT) throw err;
            });
          }
          await write(current ? 'replace' : 'create', updated);
          return next.entry;
        } catch (err) {
          if (statusOf(err) === CONFLICT && attempt < MAX_CONFLICTS) continue;
          throw err;
        }
      }
    },
    async amend(ref, change) {
      for (let attempt = 1; ; attempt++) {
        const next = change(await head(ref));
        if (!next) return false;
        try {
          await write('replace', next);
          return true;
        } catch (err) {
          if (statusOf(err) === CONFLICT && attempt < MAX_CONFLICTS) continue;
          throw err;
        }
      }
    },
  };
}
