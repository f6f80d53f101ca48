/**
 * A cache of one kind of object kept by client-node's informer (its `ListWatch`, what `makeInformer`
 * builds), made fit for a server that must not lose it:
 *
 * - Watches ask for bookmarks and a server-side timeout (client-node's `Watch` sends neither), so a
 *   quiet watch stays resumable and every watch ends within minutes; one silent past that, or whose
 *   answer never comes, is given up (client-node sets no timeout on a watch).
 * - A watch the server ends at once without an event, a `410 Gone` right after a list and an ERROR
 *   event other than 410 count as errors (client-go's reflector does the same), so a broken proxy or a
 *   compacting etcd cannot make a tight loop.
 * - Errors restart list + watch with backoff (`ListWatch` itself stops at an error); the cache keeps
 *   its last state meanwhile. A 410 otherwise relists at once, as in `ListWatch`.
 * - Ready only once the first complete list is in the cache: `ListWatch` emits `connect` before it
 *   lists, so readiness is taken from the first watch it opens, which follows the applied list.
 */
import { ListWatch, Observable, Watch, type ConfigurationOptions, type KubeConfig, type KubernetesListObject, type KubernetesObject, type ObservableMiddleware } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { TracegateError } from '../errors.js';
import { isRecord } from '../k8s/types.js';
import { kubeApiError, statusOf } from './api-error.js';

/** First restart delay after an error, doubling up to the maximum (the cache stays usable meanwhile). */
const RESTART_BASE_MS = 1_000;
const RESTART_MAX_MS = 30_000;
/** client-go's reflector asks for 5–10 min watches, so many replicas do not reconnect in step. */
const WATCH_MIN_TIMEOUT_S = 300;
/** Past the server's own watch timeout, silence means the connection is dead, not quiet. */
const WATCH_GRACE_MS = 60_000;
/** A watch that ends this soon without one event is a failure (client-go's "very short watch"). */
const SHORT_WATCH_MS = 1_000;
const GONE = 410;

/** A cache of objects from a list + watch, with its lifecycle. */
export interface SyncedInformer<T extends KubernetesObject> {
  /** Starts list + watch; resolves after the first complete list (retrying until then), rejects if stopped first. */
  start(): Promise<void>;
  /** Closes the watch and timers; the cache keeps its last state. */
  stop(): Promise<void>;
  ready(): boolean;
  get(name: string, namespace?: string): T | undefined;
  /** Every object in the cache. */
  list(): readonly T[];
  /** Calls `listener` after each add, update or delete applied to the cache (a relist applies several). */
  onChange(listener: () => void): void;
}

/** Inputs of {@link createSyncedInformer}. */
export interface SyncedInformerDeps<T extends KubernetesObject> {
  kubeConfig: KubeConfig;
  /** The collection's path, e.g. `/api/v1/namespaces`. */
  path: string;
  /** One complete (paginated) list; requests must stop when `signal` aborts. */
  list(signal: AbortSignal): Promise<KubernetesListObject<T>>;
  /** What the cache keeps of an object (metadata.name and resourceVersion must stay): less memory. */
  keep?: (obj: T) => T;
  /** The plural in logs and errors, e.g. `namespaces`. */
  what: string;
  log: Logger;
  /** Called on each restart after an error (the gate counts them in a metric). */
  onRestart?: () => void;
  /** Spreads watch timeouts; default Math.random. */
  random?: () => number;
}

/** Options for client-node's typed API calls (the object-style APIs) that abort the request when `signal` does. */
export function abortableRequest(signal: AbortSignal): ConfigurationOptions {
  const abortable: ObservableMiddleware = {
    pre(ctx) {
      ctx.setSignal(signal);
      return new Observable(Promise.resolve(ctx));
    },
    post: (res) => new Observable(Promise.resolve(res)),
  };
  return { middleware: [abortable], middlewareMergeStrategy: 'append' };
}

/** The one-line reason of a list or watch failure, for the log. */
function describe(what: string, err: unknown): string {
  return err instanceof TracegateError ? err.message : kubeApiError('watch', what, err).message;
}

/** Creates the cache; nothing happens before `start()`. */
export function createSyncedInformer<T extends KubernetesObject>(deps: SyncedInformerDeps<T>): SyncedInformer<T> {
  const { what, log } = deps;
  const random = deps.random ?? Math.random;
  const keep = deps.keep ?? ((obj: T) => obj);
  const stopper = new AbortController();
  /** Watch requests whose connection is open or opening: stop() closes them all. */
  const live = new Set<AbortController>();
  let synced = false;
  let stopped = false;
  let listedSinceWatch = false;
  let delay = RESTART_BASE_MS;
  let restartTimer: NodeJS.Timeout | undefined;
  let started: Promise<void> | undefined;
  let onSynced: (() => void) | undefined;
  let onStopped: ((err: Error) => void) | undefined;

  class GuardedWatch extends Watch {
    override async watch(
      path: string,
      query: Record<string, string | number | boolean | undefined>,
      callback: (phase: string, apiObj: any, watchObj?: any) => void,
      done: (err: any) => void,
    ): Promise<AbortController> {
      const afterList = listedSinceWatch;
      listedSinceWatch = false;
      if (stopped) return new AbortController();
      if (!synced) {
        synced = true;
        onSynced?.();
      }
      const timeoutSeconds = Math.floor(WATCH_MIN_TIMEOUT_S * (1 + random()));
      const began = Date.now();
      let events = 0;
      let finished = false;
      let expiredAtOnce = false;
      let controller: AbortController | undefined;
      let giveUp: () => void = () => undefined;
      const givenUp = new Promise<undefined>((r) => (giveUp = () => r(undefined)));
      const finish = (err: unknown): void => {
        if (finished) return;
        finished = true;
        clearTimeout(deadline);
        if (controller) live.delete(controller);
        controller?.abort();
        let why = err ?? undefined;
        if (why === undefined && expiredAtOnce) why = new Error('410 Gone right after a list');
        else if (why === undefined && events === 0 && Date.now() - began < SHORT_WATCH_MS) why = new Error('the server ended the watch at once, without events');
        // Reported as a plain error, so it is retried after a backoff rather than relisted at once.
        else if (afterList && statusOf(why) === GONE) why = new Error('410 Gone answered right after a list');
        done(why ?? null);
      };
      const deadline = setTimeout(() => {
        finish(new Error(`no end of the watch ${Math.round(timeoutSeconds + WATCH_GRACE_MS / 1000)} s after it opened`));
        giveUp();
      }, timeoutSeconds * 1000 + WATCH_GRACE_MS);
      deadline.unref();
      const onEvent = (type: string, obj: any, raw?: any): void => {
        if (finished) return;
        if (type === 'ERROR') {
          const code: unknown = isRecord(obj) ? obj['code'] : undefined;
          if (code !== GONE) return finish(new Error(`ERROR event ${String(code)}: ${isRecord(obj) ? String(obj['message'] ?? '') : ''}`));
          if (afterList && events === 0) expiredAtOnce = true;
          else {
            events++;
            log.info(`${what} watch expired (410 Gone); relisting`);
          }
          // ListWatch forgets its resourceVersion on this event; the server then ends the watch.
          return callback(type, obj, raw);
        }
        events++;
        delay = RESTART_BASE_MS;
        callback(type, type === 'BOOKMARK' ? obj : keep(obj as T), raw);
      };
      const opening = super
        .watch(path, { ...query, allowWatchBookmarks: true, timeoutSeconds }, onEvent, finish)
        // client-node's Watch throws when credentials fail (a plugin, a token file); ListWatch would leave that unhandled.
        .catch((err: unknown) => {
          finish(err);
          return new AbortController();
        });
      const opened = await Promise.race([opening, givenUp]);
      if (opened === undefined) {
        // The answer never came: hand ListWatch a spare controller, close the real one if it ever arrives.
        void opening.then((late) => late.abort());
        return new AbortController();
      }
      controller = opened;
      if (finished || stopped) opened.abort();
      else live.add(opened);
      return opened;
    }
  }

  async function list(): Promise<KubernetesListObject<T>> {
    const all = await deps.list(stopper.signal);
    listedSinceWatch = true;
    // ListWatch indexes by metadata.name and throws (unhandled) on an item without metadata.
    return { ...all, items: all.items.filter((o) => typeof o?.metadata?.name === 'string').map(keep) };
  }

  const informer = new ListWatch<T>(deps.path, new GuardedWatch(deps.kubeConfig), list, false);

  function failed(err: unknown): void {
    if (stopped) return;
    log.warn({ err: describe(what, err), retryInMs: delay }, `${what} watch failed; restarting`);
    deps.onRestart?.();
    clearTimeout(restartTimer);
    restartTimer = setTimeout(() => void informer.start().catch(failed), delay);
    // A pending restart alone does not keep the process alive.
    restartTimer.unref();
    delay = Math.min(delay * 2, RESTART_MAX_MS);
  }
  informer.on('error', failed);

  return {
    start() {
      started ??= new Promise<void>((resolve, reject) => {
        if (stopped) return reject(new Error(`${what} cache stopped before its first sync`));
        onSynced = resolve;
        onStopped = reject;
        void informer.start().catch(failed);
      });
      return started;
    },
    async stop() {
      stopped = true;
      clearTimeout(restartTimer);
      stopper.abort();
      for (const c of live) c.abort();
      live.clear();
      await informer.stop();
      if (!synced) onStopped?.(new Error(`${what} cache stopped before its first sync`));
    },
    ready: () => synced,
    get: (name, namespace) => informer.get(name, namespace),
    list: () => informer.list(),
    onChange: (listener) => informer.on('change', () => listener()),
  };
}
