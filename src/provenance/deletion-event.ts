/**
 * The deletion note as a Kubernetes Event: the gate's deletion webhook learns who deleted a recorded
 * workload and writes it down (the recorder's watch only sees that the object is gone); the recorder
 * reads it back when it records the deletion. The note is MAC'd with the key the gate and the recorder
 * share, because anyone who may create Events in a namespace could write one. Pure.
 */
import { isRecord } from '../k8s/types.js';
import type { MacKeyring } from './mac.js';

/** `reason` of every deletion Event; the recorder lists Events by it and the object's uid. */
export const DELETION_REASON = 'DeletionAdmitted';
/** `reportingComponent`: who wrote the Event, as `kubectl get events` shows it. */
export const REPORTING_COMPONENT = 'tracegate.io/gate';

/** Who deleted which object. */
export interface DeletionNote {
  kind: string;
  apiVersion: string;
  namespace: string;
  name: string;
  uid: string;
  user: string;
  /** The admission request's uid, as in the apiserver's audit log. */
  requestUid: string;
}

/** What the recorder learns from an Event: the note, and whether its MAC checks. */
export interface ReadNote {
  user: string;
  verified: boolean;
}

function macFields(n: Pick<DeletionNote, 'namespace' | 'kind' | 'name' | 'uid' | 'user'>): string[] {
  return ['deletion', n.namespace, n.kind, n.name, n.uid, n.user];
}

/** The Event the gate writes for a deletion (core/v1; `metadata.generateName` gives it a unique name). */
export function deletionEvent(note: DeletionNote, opts: { prefix: string; keyring?: MacKeyring; now: Date; instance: string }): Record<string, unknown> {
  const annotations: Record<string, string> = { [`${opts.prefix}deleted-by`]: note.user, [`${opts.prefix}request-uid`]: note.requestUid };
  if (opts.keyring) annotations[`${opts.prefix}mac`] = opts.keyring.sign(macFields(note));
  const time = opts.now.toISOString();
  return {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { generateName: `${note.name.slice(0, 200)}.`, namespace: note.namespace, annotations },
    involvedObject: { apiVersion: note.apiVersion, kind: note.kind, name: note.name, namespace: note.namespace, uid: note.uid },
    reason: DELETION_REASON,
    message: `${note.kind} ${note.namespace}/${note.name} deleted by ${note.user || 'an unknown user'} (admitted by tracegate)`,
    type: 'Normal',
    source: { component: 'tracegate' },
    reportingComponent: REPORTING_COMPONENT,
    reportingInstance: opts.instance,
    firstTimestamp: time,
    lastTimestamp: time,
    count: 1,
  };
}

/** Reads a deletion Event back for object `uid`; undefined when it is not one. */
export function readDeletionEvent(event: unknown, expect: { namespace: string; kind: string; name: string; uid: string }, opts: { prefix: string; keyring?: MacKeyring }): ReadNote | undefined {
  if (!isRecord(event) || event.reason !== DELETION_REASON) return undefined;
  const involved = event.involvedObject;
  if (!isRecord(involved) || involved.uid !== expect.uid) return undefined;
  const meta = isRecord(event.metadata) ? event.metadata : {};
  const annotations = isRecord(meta.annotations) ? meta.annotations : {};
  const user = annotations[`${opts.prefix}deleted-by`];
  if (typeof user !== 'string') return undefined;
  const verified = opts.keyring?.verify(macFields({ ...expect, user }), annotations[`${opts.prefix}mac`]) ?? false;
  return { user, verified };
}
