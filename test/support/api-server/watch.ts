/**
 * Watches: a chunked stream of newline-separated JSON events (`ADDED`, `MODIFIED`, `DELETED`,
 * `BOOKMARK`, `ERROR`). Starts from a resourceVersion (replaying the event log), or with the current
 * state as synthetic ADDED events (no resourceVersion, `0`, or `sendInitialEvents=true` followed by
 * the `k8s.io/initial-events-end` bookmark). Honours label/field selectors (an object leaving the
 * selection is DELETED, entering it ADDED), `timeoutSeconds` and `allowWatchBookmarks`.
 */
import type { ServerResponse } from 'node:http';
import type { RequestContext } from './context.js';
import type { HandlerDeps } from './context.js';
import { apiVersionOf } from './resources.js';
import { selectorOf } from './rest-read.js';
import type { ChangeEvent } from './store.js';
import { badRequest, expired } from './status.js';
import type { JsonObject } from './types.js';

/** An open watch the server can end or send bookmarks to. */
export interface OpenWatch {
  end(abrupt: boolean): void;
  bookmark(): void;
}

/** The open watches of a server. */
export interface WatchRegistry {
  add(w: OpenWatch): void;
  delete(w: OpenWatch): void;
  /** Ends all open watches; returns how many. */
  dropAll(abrupt: boolean): number;
  /** Sends a BOOKMARK to every watch that allows them; returns how many got one. */
  bookmarkAll(): number;
}

/** Creates an empty registry. */
export function createWatchRegistry(): WatchRegistry {
  const open = new Set<OpenWatch>();
  return {
    add: (w) => void open.add(w),
    delete: (w) => void open.delete(w),
    dropAll(abrupt) {
      const all = [...open];
      for (const w of all) w.end(abrupt);
      return all.length;
    },
    bookmarkAll() {
      let n = 0;
      for (const w of open) {
        w.bookmark();
        n++;
      }
      return n;
    },
  };
}

function nsOf(obj: JsonObject): string {
  return String(((obj['metadata'] ?? {}) as JsonObject)['namespace'] ?? '');
}

/** True when the request asks for a watch (`?watch=true|1` or the `/watch/` prefix). */
export function isWatch(ctx: RequestContext): boolean {
  const w = ctx.query.get('watch');
  return ctx.route.legacyWatch || w === 'true' || w === '1';
}

/** Serves a watch until the client goes, the timeout fires, or the server drops it. */
export function serveWatch(ctx: RequestContext, res: ServerResponse, deps: HandlerDeps, registry: WatchRegistry): void {
  const { info, namespace, name } = ctx.route;
  if (name !== undefined) {
    // `/watch/…/<name>` is the legacy single-object watch: a field selector on the name.
    const existing = ctx.query.get('fieldSelector');
    ctx.query.set('fieldSelector', existing ? `${existing},metadata.name=${name}` : `metadata.name=${name}`);
  }
  const matches = selectorOf(ctx.query, info);
  const rvParam = ctx.query.get('resourceVersion') ?? '';
  const initialEvents = ctx.query.get('sendInitialEvents') === 'true';
  const bookmarks = ctx.query.get('allowWatchBookmarks') === 'true';
  const timeoutParam = ctx.query.get('timeoutSeconds');
  if (rvParam !== '' && !/^\d+$/.test(rvParam)) throw badRequest(`resourceVersion: Invalid value: "${rvParam}": must be a non-negative integer`);
  if (initialEvents && ctx.query.get('resourceVersionMatch') !== 'NotOlderThan') {
    throw badRequest('sendInitialEvents requires resourceVersionMatch=NotOlderThan');
  }

  const inScope = (obj: JsonObject): boolean => namespace === undefined || nsOf(obj) === namespace;
  const visible = (obj: JsonObject | undefined): boolean => obj !== undefined && inScope(obj) && matches(obj);
  let ended = false;

  res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private', 'Transfer-Encoding': 'chunked' });
  // Clients return from Watch() only once headers arrive, which must not wait for a first event.
  res.flushHeaders();
  const send = (type: string, object: JsonObject): void => {
    // The versions of a custom resource share storage: events are served at the watched version.
    const served = info.custom !== undefined && object['kind'] === info.kind ? { ...object, apiVersion: apiVersionOf(info) } : object;
    if (!ended) res.write(`${JSON.stringify({ type, object: served })}\n`);
  };
  const sendChange = (e: ChangeEvent): void => {
    // The apiserver ends the watches of a custom resource when its CRD goes away.
    if (info.custom !== undefined && e.type === 'DELETED' && e.info.resource === 'customresourcedefinitions' && e.info.group === 'apiextensions.k8s.io') {
      if (String(((e.object['metadata'] ?? {}) as JsonObject)['name'] ?? '') === info.custom.crdName) watch.end(false);
      return;
    }
    if (e.info.group !== info.group || e.info.resource !== info.resource) return;
    const now = visible(e.object);
    if (e.type === 'ADDED') {
      if (now) send('ADDED', e.object);
    } else if (e.type === 'DELETED') {
      if (now) send('DELETED', e.object);
    } else {
      const before = visible(e.previous);
      if (now && before) send('MODIFIED', e.object);
      else if (now) send('ADDED', e.object);
      else if (before) send('DELETED', e.object);
    }
  };
  const bookmark = (annotations?: Record<string, string>): void => {
    const metadata: JsonObject = { resourceVersion: String(deps.store.currentRv()) };
    if (annotations !== undefined) metadata['annotations'] = annotations;
    send('BOOKMARK', { kind: info.kind, apiVersion: apiVersionOf(info), metadata });
  };

  const watch: OpenWatch = {
    end(abrupt) {
      if (ended) return;
      ended = true;
      cleanup();
      if (abrupt) res.destroy();
      else res.end();
    },
    bookmark() {
      if (bookmarks) bookmark();
    },
  };
  let timer: NodeJS.Timeout | undefined;
  const unsubscribe = deps.store.subscribe(sendChange);
  const cleanup = (): void => {
    unsubscribe();
    if (timer !== undefined) clearTimeout(timer);
    registry.delete(watch);
  };
  registry.add(watch);
  res.on('close', () => {
    ended = true;
    cleanup();
  });

  // Everything below runs synchronously with the subscription, so no commit can slip in between.
  if (rvParam === '' || rvParam === '0' || initialEvents) {
    for (const obj of deps.store.list(info, namespace)) if (matches(obj)) send('ADDED', obj);
    if (initialEvents && bookmarks) bookmark({ 'k8s.io/initial-events-end': 'true' });
  } else {
    const events = deps.store.eventsSince(Number(rvParam));
    if (events === 'expired') {
      // As the watch cache does: HTTP 200, then one ERROR event carrying the 410 Status, then close.
      send('ERROR', expired(rvParam, deps.store.oldestRv()).toStatus());
      watch.end(false);
      return;
    }
    for (const e of events) sendChange(e);
  }
  if (timeoutParam !== null && Number(timeoutParam) > 0) {
    timer = setTimeout(() => watch.end(false), Number(timeoutParam) * 1000); // seconds → ms
  }
}
