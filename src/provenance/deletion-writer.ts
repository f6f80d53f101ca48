/**
 * The gate's side of deletion notes: after answering a DELETE of a recorded workload, write the Event
 * that tells the recorder who deleted it. Off the admission path (the answer never waits for it),
 * bounded (a burst of deletions cannot grow memory: beyond the cap notes are dropped, counted and
 * logged), and never on dry run (the webhook declares sideEffects NoneOnDryRun).
 */
import type { Logger } from 'pino';
import { deletionEvent, type DeletionNote } from './deletion-event.js';
import type { MacKeyring } from './mac.js';

/** Notes waiting to be written at most; a deletion storm beyond this loses notes, not memory. */
const MAX_PENDING = 1_000;
/** Concurrent Event writes: enough to keep up with kubectl delete loops without flooding the apiserver. */
const CONCURRENCY = 4;

export interface DeletionWriterDeps {
  /** Creates a core/v1 Event in `namespace`. */
  createEvent(namespace: string, body: Record<string, unknown>): Promise<void>;
  keyring?: MacKeyring;
  prefix: string;
  /** This replica's name, as `reportingInstance`. */
  instance: string;
  log: Logger;
  now?: () => Date;
  /** Counts notes that could not be written (dropped or failed). */
  onLost?: (reason: 'dropped' | 'failed') => void;
}

/** Creates the writer; `write(note)` returns at once. `flush()` resolves when nothing is pending. */
export function createDeletionWriter(deps: DeletionWriterDeps) {
  const now = deps.now ?? (() => new Date());
  const pending: DeletionNote[] = [];
  let active = 0;
  const idle: (() => void)[] = [];

  function pump(): void {
    while (active < CONCURRENCY && pending.length) {
      const note = pending.shift()!;
      active++;
      const body = deletionEvent(note, { prefix: deps.prefix, ...(deps.keyring ? { keyring: deps.keyring } : {}), now: now(), instance: deps.instance });
      deps
        .createEvent(note.namespace, body)
        .catch((err: unknown) => {
          deps.onLost?.('failed');
          deps.log.warn({ workload: `${note.kind} ${note.namespace}/${note.name}`, err: String((err as Error)?.message ?? err).slice(0, 300) }, 'could not write the deletion note; the trail will not know who deleted it');
        })
        .finally(() => {
          active--;
          pump();
          if (active === 0 && pending.length === 0) for (const done of idle.splice(0)) done();
        });
    }
  }

  return {
    write(note: DeletionNote): void {
      if (pending.length >= MAX_PENDING) {
        deps.onLost?.('dropped');
        deps.log.warn({ workload: `${note.kind} ${note.namespace}/${note.name}` }, 'too many deletion notes pending; dropped one');
        return;
      }
      pending.push(note);
      pump();
    },
    flush(): Promise<void> {
      if (active === 0 && pending.length === 0) return Promise.resolve();
      return new Promise((resolve) => void idle.push(resolve));
    },
  };
}

export type DeletionWriter = ReturnType<typeof createDeletionWriter>;
