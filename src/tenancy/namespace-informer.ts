/**
 * Namespace labels from the cluster through a list + watch over node:https, so no API call sits in the
 * admission path and @kubernetes/client-node stays out of the gate's process. Only name → labels is kept.
 * The first complete (paginated) list makes the cache ready; the watch then follows from the list's
 * resourceVersion with bookmarks. A watch the server ends (it does every few minutes) is reopened from
 * the last resourceVersion without a relist; `410 Gone` (an ERROR event or the answer) forces a relist;
 * errors restart the watch with backoff, keeping the cache and readiness as they are meanwhile.
 */
import type { Logger } from 'pino';
import { isRecord } from '../k8s/types.js';
import type { KubeConnection } from '../kube/connection.js';
import { apiError, apiErrorStatus, kubeGet, readText } from '../kube/request.js';
import type { NamespaceLabels } from './resolve.js';

/** First restart delay after a watch error, doubling up to the maximum (seconds matter, not ms: the cache stays usable). */
const RESTART_BASE_MS = 1_000;
const RESTART_MAX_MS = 30_000;
/** client-go's page size: bounded memory per page, few round trips for ordinary clusters. */
const LIST_PAGE_SIZE = 500;
/** kube-apiserver's own default request timeout; a list silent for longer is stuck. */
const LIST_IDLE_TIMEOUT_MS = 60_000;
/** client-go's reflector asks for 5–10 min watches, so many replicas do not reconnect in step. */
const WATCH_MIN_TIMEOUT_S = 300;
/** Past the server's own watch timeout, silence means the connection is dead, not quiet. */
const WATCH_IDLE_GRACE_MS = 60_000;
/** etcd refuses objects over 1.5 MiB; a list page or event line far beyond that is not from an apiserver. */
const MAX_RESPONSE_BYTES = 64 * 1024 * 1024;
/** A watch that ends this soon without one event is a failure (client-go's "very short watch"), else a broken proxy would make a busy loop. */
const SHORT_WATCH_MS = 1_000;
/** How long stop() waits for the loop: a credential plugin may hang, and shutdown must not with it. */
const STOP_WAIT_MS = 5_000;
const GONE = 410;
const NAMESPACES = '/api/v1/namespaces';

/** The namespace cache the gate's tenant resolver reads (`labels`), with its lifecycle. */
export interface NamespaceInformer extends NamespaceLabels {
  /** Starts list + watch; resolves after the first complete list (retrying until then), rejects if stopped first. */
  start(): Promise<void>;
  /** Aborts the connection and timers; the cache keeps its last state. */
  stop(): Promise<void>;
  ready(): boolean;
}

/** Inputs of {@link createNamespaceInformer}. */
export interface NamespaceInformerDeps {
  connection: KubeConnection;
  log: Logger;
  /** Called on each restart after an error (the gate counts them in a metric). */
  onRestart?: () => void;
  /** Spreads watch timeouts; default Math.random. */
  random?: () => number;
}

/** How a watch ended without an error. */
type WatchEnd = { kind: 'ended'; events: number; ms: number } | { kind: 'expired'; events: number };

/** Labels of a namespace object from the API, as an immutable string map. */
function labelsOf(meta: Record<string, unknown>): Readonly<Record<string, string>> {
  const out: Record<string, string> = {};
  if (isRecord(meta['labels'])) for (const [k, v] of Object.entries(meta['labels'])) if (typeof v === 'string') out[k] = v;
  return Object.freeze(out);
}

function metaOf(obj: unknown): Record<string, unknown> | undefined {
  return isRecord(obj) && isRecord(obj['metadata']) ? obj['metadata'] : undefined;
}

/** Creates the namespace cache over `connection`. */
export function createNamespaceInformer(deps: NamespaceInformerDeps): NamespaceInformer {
  const random = deps.random ?? Math.random;
  let cache = new Map<string, Readonly<Record<string, string>>>();
  let resourceVersion: string | undefined;
  let synced = false;
  let stopped = false;
  const aborter = new AbortController();
  let started: Promise<void> | undefined;
  let loop: Promise<void> | undefined;
  let onSynced: (() => void) | undefined;
  let onStopped: ((err: Error) => void) | undefined;
  let wake: (() => void) | undefined;
  let timer: NodeJS.Timeout | undefined;
  /** Set when a watch delivered an event: an error after that starts the backoff from the beginning. */
  let progressed = false;

  const sleep = (ms: number) =>
    new Promise<void>((done) => {
      wake = done;
      timer = setTimeout(done, ms);
      // As before with client-node: a pending restart alone does not keep the process alive.
      timer.unref();
    });

  /** Lists every namespace page by page, then swaps the cache in whole: readers never see a partial list. */
  async function relist(): Promise<void> {
    const next = new Map<string, Readonly<Record<string, string>>>();
    let cont: string | undefined;
    let listRv: string | undefined;
    do {
      const res = await kubeGet(deps.connection, {
        path: NAMESPACES,
        query: { limit: String(LIST_PAGE_SIZE), continue: cont },
        signal: aborter.signal,
        idleTimeoutMs: LIST_IDLE_TIMEOUT_MS,
      });
      if (res.statusCode !== 200) throw await apiError(res, 'list namespaces');
      const body: unknown = JSON.parse(await readText(res, MAX_RESPONSE_BYTES, 'list namespaces'));
      const items = isRecord(body) && Array.isArray(body['items']) ? body['items'] : undefined;
      const meta = metaOf(body);
      if (items === undefined || meta === undefined) throw new Error('list namespaces: the answer is not a NamespaceList');
      for (const item of items) {
        const m = metaOf(item);
        if (m !== undefined && typeof m['name'] === 'string') next.set(m['name'], labelsOf(m));
      }
      cont = typeof meta['continue'] === 'string' && meta['continue'] !== '' ? meta['continue'] : undefined;
      // Every page of a list is one snapshot at the first page's resourceVersion (the continue token pins it).
      if (listRv === undefined && typeof meta['resourceVersion'] === 'string') listRv = meta['resourceVersion'];
    } while (cont !== undefined);
    if (!listRv) throw new Error('list namespaces: the answer has no resourceVersion');
    cache = next;
    resourceVersion = listRv;
  }

  /** Applies one watch event; returns 'expired' for a 410 ERROR event. */
  function apply(line: string): 'applied' | 'expired' | 'ignored' {
    const event: unknown = JSON.parse(line);
    const type = isRecord(event) ? event['type'] : undefined;
    const object = isRecord(event) ? event['object'] : undefined;
    if (type === 'ERROR') {
      const code = isRecord(object) ? object['code'] : undefined;
      if (code === GONE) return 'expired';
      const message = isRecord(object) && typeof object['message'] === 'string' ? object['message'] : 'no message';
      throw new Error(`watch namespaces: ERROR event ${String(code)}: ${message}`);
    }
    const meta = metaOf(object);
    const rv = meta?.['resourceVersion'];
    if (meta === undefined || typeof rv !== 'string' || rv === '') throw new Error(`watch namespaces: ${String(type)} event without metadata.resourceVersion`);
    const name = meta['name'];
    if (type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED') {
      if (typeof name !== 'string' || name === '') throw new Error(`watch namespaces: ${type} event without metadata.name`);
      if (type === 'DELETED') cache.delete(name);
      else cache.set(name, labelsOf(meta));
    } else if (type !== 'BOOKMARK') {
      deps.log.debug({ type: String(type) }, 'namespace watch: unknown event type ignored');
      return 'ignored';
    }
    resourceVersion = rv;
    progressed = true;
    return 'applied';
  }

  /** One watch from `resourceVersion`, until the server ends it, it expires, or an error is thrown. */
  async function watchOnce(): Promise<WatchEnd> {
    const began = Date.now();
    const timeoutSeconds = Math.floor(WATCH_MIN_TIMEOUT_S * (1 + random()));
    const res = await kubeGet(deps.connection, {
      path: NAMESPACES,
      query: { watch: 'true', resourceVersion, allowWatchBookmarks: 'true', timeoutSeconds: String(timeoutSeconds) },
      signal: aborter.signal,
      idleTimeoutMs: timeoutSeconds * 1000 + WATCH_IDLE_GRACE_MS,
    });
    if (res.statusCode === GONE) {
      res.resume();
      return { kind: 'expired', events: 0 };
    }
    if (res.statusCode !== 200) throw await apiError(res, 'watch namespaces');
    res.setEncoding('utf8');
    let pending = '';
    let events = 0;
    for await (const chunk of res as AsyncIterable<string>) {
      pending += chunk;
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl).trim();
        pending = pending.slice(nl + 1);
        if (line === '') continue;
        const outcome = apply(line);
        if (outcome === 'expired') {
          res.destroy();
          return { kind: 'expired', events };
        }
        if (outcome === 'applied') events++;
      }
      if (pending.length > MAX_RESPONSE_BYTES) throw new Error(`watch namespaces: an event longer than ${MAX_RESPONSE_BYTES} bytes`);
    }
    if (!res.complete) throw new Error('watch namespaces: the connection closed mid-stream');
    if (pending.trim() !== '' && apply(pending.trim()) === 'expired') return { kind: 'expired', events };
    return { kind: 'ended', events, ms: Date.now() - began };
  }

  async function run(): Promise<void> {
    let delay = RESTART_BASE_MS;
    while (!stopped) {
      const fromList = resourceVersion === undefined;
      try {
        if (fromList) {
          await relist();
          if (!synced) {
            synced = true;
            onSynced?.();
          }
        }
        const end = await watchOnce();
        if (end.kind === 'expired' && fromList && end.events === 0) {
          // 410 again straight after a list: relist only after backing off, not in a tight loop.
          resourceVersion = undefined;
          throw new Error('watch namespaces: 410 Gone right after a list');
        }
        if (end.kind === 'expired') {
          deps.log.info('namespace watch expired (410 Gone); relisting');
          resourceVersion = undefined;
        } else if (end.events === 0 && end.ms < SHORT_WATCH_MS) {
          throw new Error('watch namespaces: the server ended the watch at once, without events');
        } else {
          deps.log.debug({ events: end.events }, 'namespace watch ended; reopening');
        }
        // A watch that ended in order proves the connection healthy again.
        if (end.kind === 'ended') delay = RESTART_BASE_MS;
      } catch (err) {
        if (stopped) break;
        // 410 answering a list (an expired continue token) also means: start the list over.
        if (apiErrorStatus(err) === GONE) resourceVersion = undefined;
        if (progressed) delay = RESTART_BASE_MS;
        deps.log.warn({ err: String((err as Error)?.message ?? err), retryInMs: delay }, 'namespace watch failed; restarting');
        deps.onRestart?.();
        await sleep(delay);
        delay = Math.min(delay * 2, RESTART_MAX_MS);
      }
      progressed = false;
    }
  }

  return {
    start() {
      started ??= new Promise<void>((resolve, reject) => {
        if (stopped) {
          reject(new Error('namespace cache stopped before its first sync'));
          return;
        }
        onSynced = resolve;
        onStopped = reject;
        loop = run();
      });
      return started;
    },
    async stop() {
      stopped = true;
      aborter.abort();
      if (timer) clearTimeout(timer);
      wake?.();
      if (!synced) onStopped?.(new Error('namespace cache stopped before its first sync'));
      let waited: NodeJS.Timeout | undefined;
      await Promise.race([loop, new Promise<void>((done) => (waited = setTimeout(done, STOP_WAIT_MS)))]);
      clearTimeout(waited);
    },
    ready: () => synced,
    labels: (namespace: string) => cache.get(namespace),
  };
}
