/**
 * How many pages render at once: each may read a tenant's trails and release records (bounded, but
 * megabytes), so a few browsers of one user — or a script — cannot make the view hold many at a time.
 * Past the limit the answer is 503 with Retry-After, never a queue that grows. Pure.
 */

/** Settings of {@link createRenderLimit}. */
export interface RenderLimitOptions {
  /** Renders of one user at a time. */
  perUser: number;
  /** Renders at a time in all. */
  total: number;
}

/** Counts renders in flight. */
export interface RenderLimit {
  /** A release function when a render may start now; undefined when a limit is reached. */
  acquire(username: string): (() => void) | undefined;
  /** Renders in flight. */
  inFlight(): number;
}

/** Creates the counters. */
export function createRenderLimit(opts: RenderLimitOptions): RenderLimit {
  const perUser = new Map<string, number>();
  let total = 0;
  return {
    acquire(username) {
      const mine = perUser.get(username) ?? 0;
      if (total >= opts.total || mine >= opts.perUser) return undefined;
      total++;
      perUser.set(username, mine + 1);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        total--;
        const left = perUser.get(username)! - 1;
        if (left === 0) perUser.delete(username);
        else perUser.set(username, left);
      };
    },
    inFlight: () => total,
  };
}
