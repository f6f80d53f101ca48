/**
 * Fault injection: canned error responses (429 with Retry-After, 500, 503) and delays for requests
 * matching a method and a path regex, API Priority and Fairness rejections by flow, dropped watch
 * connections, and forced `410 Gone` for watches from old resourceVersions.
 */

/** Which requests a fault applies to; `path` is tested against the path with its query string. */
export interface FaultMatch {
  /** Upper-case HTTP method; any method when omitted. */
  method?: string;
  path: RegExp;
}

/** An error response to inject. */
export interface InjectedError extends FaultMatch {
  /** 429, 500, 503, … */
  status: number;
  /** How many matching requests get it (default 1); `Infinity` for all. */
  count?: number;
  /** Sent as `Retry-After` (and Status `details.retryAfterSeconds`); 429 defaults to 1. */
  retryAfterSeconds?: number;
  message?: string;
}

/** A delay before a matching request is handled. */
export interface InjectedDelay extends FaultMatch {
  ms: number;
  /** Default: every matching request until `clear()`. */
  count?: number;
}

/**
 * APF rejection of the requests classified into a priority level or a FlowSchema (either that
 * matches). Requests of an Exempt priority level are never rejected, as in the apiserver.
 */
export interface InjectedThrottle {
  priorityLevel?: string;
  flowSchema?: string;
  /** `Retry-After` (default 1, the tracker's starting value). */
  retryAfterSeconds?: number;
  /** How many matching requests are rejected (default: all until `clear()`); `Infinity` for all. */
  count?: number;
}

/** What a throttle is matched against (see `apf.ts`). */
export interface FlowOfRequest {
  flowSchema: string;
  priorityLevel: string;
  exempt: boolean;
}

/** The test-facing fault controls (`server.faults`). */
export interface Faults {
  inject(error: InjectedError): void;
  /** Rejects requests of a flow with APF's 429 (see {@link InjectedThrottle}). */
  throttle(throttle: InjectedThrottle): void;
  delay(delay: InjectedDelay): void;
  /**
   * Ends every open watch now. By default the stream is closed cleanly (as when the apiserver's
   * watch timeout fires: clients re-watch from their last resourceVersion); `abrupt` destroys the
   * sockets instead (clients see a network error). Returns how many watches were dropped.
   */
  dropWatches(opts?: { abrupt?: boolean }): number;
  /**
   * Makes watches from resourceVersions older than `belowRv` (default: the current one) fail with
   * `410 Gone` (an ERROR event with reason Expired), as after etcd compaction.
   */
  expireWatches(belowRv?: string): void;
  /** Removes pending errors, throttles and delays. */
  clear(): void;
  /** Injected errors and throttle rejections not yet served (`Infinity` with an unlimited throttle). */
  pending(): number;
}

/** What the server asks the fault registry per request. */
export interface FaultRegistry {
  faults: Faults;
  /** The error to answer with instead of handling the request, if one is due. */
  takeError(method: string, url: string): InjectedError | undefined;
  /** Milliseconds to wait before handling the request. */
  takeDelay(method: string, url: string): number;
  /** The `Retry-After` of an APF rejection due for a request of this flow, if any. */
  takeThrottle(flow: FlowOfRequest): number | undefined;
}

function matches(f: FaultMatch, method: string, url: string): boolean {
  f.path.lastIndex = 0; // a /g regex keeps state between test() calls
  return (f.method === undefined || f.method.toUpperCase() === method) && f.path.test(url);
}

/** Creates the registry; watch dropping and compaction are the server's, passed in. */
export function createFaultRegistry(deps: { dropWatches: (abrupt: boolean) => number; compact: (belowRv?: number) => void }): FaultRegistry {
  let errors: { fault: InjectedError; left: number }[] = [];
  let delays: { fault: InjectedDelay; left: number }[] = [];
  let throttles: { fault: InjectedThrottle; left: number }[] = [];

  const faults: Faults = {
    inject(error) {
      errors.push({ fault: error, left: error.count ?? 1 });
    },
    delay(delay) {
      delays.push({ fault: delay, left: delay.count ?? Infinity });
    },
    throttle(throttle) {
      if (throttle.priorityLevel === undefined && throttle.flowSchema === undefined) throw new Error('a throttle names a priorityLevel or a flowSchema');
      if (throttle.priorityLevel === 'exempt') throw new Error('the exempt priority level is never throttled');
      throttles.push({ fault: throttle, left: throttle.count ?? Infinity });
    },
    dropWatches: (opts = {}) => deps.dropWatches(opts.abrupt === true),
    expireWatches(belowRv) {
      if (belowRv !== undefined && !/^\d+$/.test(belowRv)) throw new Error(`not a resourceVersion: ${belowRv}`);
      deps.compact(belowRv === undefined ? undefined : Number(belowRv));
    },
    clear() {
      errors = [];
      delays = [];
      throttles = [];
    },
    pending: () => [...errors, ...throttles].reduce((n, e) => n + e.left, 0),
  };

  return {
    faults,
    takeError(method, url) {
      const hit = errors.find((e) => e.left > 0 && matches(e.fault, method, url));
      if (hit === undefined) return undefined;
      hit.left--;
      errors = errors.filter((e) => e.left > 0);
      return hit.fault;
    },
    takeThrottle(flow) {
      if (flow.exempt) return undefined;
      const hit = throttles.find((t) => t.left > 0 && (t.fault.priorityLevel === flow.priorityLevel || t.fault.flowSchema === flow.flowSchema));
      if (hit === undefined) return undefined;
      hit.left--;
      throttles = throttles.filter((t) => t.left > 0);
      // DroppedRequestsTracker starts every priority level's Retry-After at one second.
      return hit.fault.retryAfterSeconds ?? 1;
    },
    takeDelay(method, url) {
      const hit = delays.find((d) => d.left > 0 && matches(d.fault, method, url));
      if (hit === undefined) return 0;
      hit.left--;
      return hit.fault.ms;
    },
  };
}
