/**
 * Who deleted a workload, from the deletion Event the gate wrote while admitting the DELETE (see
 * provenance/deletion-event.ts). The note is trusted only when its MAC checks with the shared key.
 */
import type { CoreV1Api } from '@kubernetes/client-node';
import { kubeApiError } from '../kube/api-error.js';
import { DELETION_REASON, readDeletionEvent, type ReadNote } from '../provenance/deletion-event.js';
import type { MacKeyring } from '../provenance/mac.js';

/** The object whose deleter is asked for. */
export interface DeletedRef {
  namespace: string;
  kind: string;
  name: string;
  uid: string;
}

/** Finds the deletion note of an object. */
export interface DeletionNotes {
  find(ref: DeletedRef): Promise<ReadNote | undefined>;
}

/** Deletion notes read from the namespace's Events. */
export function createEventDeletionNotes(deps: { core: Pick<CoreV1Api, 'listNamespacedEvent'>; prefix: string; keyring?: MacKeyring }): DeletionNotes {
  return {
    async find(ref) {
      let items: unknown[];
      try {
        const list = await deps.core.listNamespacedEvent({ namespace: ref.namespace, fieldSelector: `involvedObject.uid=${ref.uid},reason=${DELETION_REASON}` });
        items = (JSON.parse(JSON.stringify(list)) as { items?: unknown[] }).items ?? [];
      } catch (err) {
        throw kubeApiError('list', `Events of ${ref.kind} ${ref.namespace}/${ref.name}`, err);
      }
      const notes = items.map((e) => readDeletionEvent(e, ref, deps)).filter((n): n is ReadNote => n !== undefined);
      // A forged note beside the gate's own never wins: the one whose MAC checks does.
      return notes.find((n) => n.verified) ?? notes[0];
    },
  };
}
