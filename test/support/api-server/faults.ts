/**
 * Fault injection: canned error responses (429 with Retry-After, 500, 503) and delays for requests
 * matching a method and a path regex, dropped watch connections, and forced `410 Gone` for watches
 * from old resourceVersions.
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

/** The test-facing fault controls (`server.faults`). */
export interface Faults {
  inject(error: InjectedError): void;
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
  /** Removes pending errors and delays. */
  clear(): void;
  /** Injected errors not yet served. */
  pending(): number;
}

/** What the server asks the fault registry per request. */
export interface FaultRegistry {
  faults: Faults;
  /** The error to answer with instead of handling the request, if one is due. */
  takeError(method: string, url: string): InjectedError | undefined;
  /** Milliseconds to wait before handling the request. */
  takeDelay(method: string, url: string): number;
}

function matches(f: FaultMatch, method: string, url: string): boolean {
  f.path.lastIndex = 0; // a /g regex keeps state between test() calls
  return (f.method === undefined || f.method.toUpperCase() === method) && f.path.test(url);
}

/** Creates the registry; watch dropping and compaction are the server's, passed in. */
export function createFaultRegistry(deps: { dropWatches: (abrupt: boolean) => number; compact: (belowRv?: number) => void }): FaultRegistry {
  let errors: { fault: InjectedError; left: number }[] = [];
  let delays: { fault: InjectedDelay; left: number }[] = [];

  const faults: Faults = {
    inject(error) {
      errors.push({ fault: error, left: error.count ?? 1 });
    },
    delay(delay) {
      delays.push({ fault: delay, left: delay.count ?? Infinity });
    },
    dropWatches: (opts = {}) => deps.dropWatches(opts.abrupt === true),
    expireWatches(belowRv) {
      if (belowRv !== undefined && !/^\d+$/.test(belowRv)) throw new Error(`not a resourceVersion: ${belowRv}`);
      deps.compact(belowRv === undefined ? undefined : Number(belowRv));
    },
    clear() {
      errors = [];
      delays = [];
    },
    pending: () => errors.reduce((n, e) => n + e.left, 0),
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
    takeDelay(method, url) {
      const hit = delays.find((d) => d.left > 0 && matches(d.fault, method, url));
      if (hit === undefined) return 0;
      hit.left--;
      return hit.fault.ms;
    },
  };
}
