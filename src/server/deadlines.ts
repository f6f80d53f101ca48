/**
 * Deadlines of in-flight requests on one shared timer. A node timer per review (created, inserted into
 * a list per distinct duration, then cleared) cost more than reading a small body; a Set entry costs
 * almost nothing, and the timer only runs while some request is still reading its body.
 */

/** A registered deadline; pass it back to `cancel`. */
export interface Deadline {
  readonly at: number;
  readonly onExpire: () => void;
}

/** The registry; `at` is in `now()`'s clock (Date.now by default). */
export interface Deadlines {
  add(at: number, onExpire: () => void): Deadline;
  cancel(deadline: Deadline): void;
  /** Entries not yet expired or cancelled (for tests and metrics). */
  size(): number;
}

/**
 * Creates a registry that checks its entries every `tickMs`: a deadline fires between `at` and
 * `at + tickMs`. The apiserver's webhook timeouts are whole seconds (1–30 s), so a tick of 100 ms is
 * precise enough for them.
 */
export function createDeadlines(opts: { tickMs: number; now?: () => number }): Deadlines {
  const now = opts.now ?? Date.now;
  const entries = new Set<Deadline>();
  let timer: NodeJS.Timeout | undefined;

  const sweep = () => {
    const t = now();
    for (const entry of entries) {
      if (entry.at > t) continue;
      entries.delete(entry);
      entry.onExpire();
    }
    if (entries.size === 0 && timer) {
      clearInterval(timer);
      timer = undefined;
    }
  };

  return {
    add(at, onExpire) {
      const entry: Deadline = { at, onExpire };
      entries.add(entry);
      if (!timer) {
        timer = setInterval(sweep, opts.tickMs);
        // Deadlines never keep the process alive on their own: shutdown has its own grace timer.
        timer.unref();
      }
      return entry;
    },
    cancel(entry) {
      entries.delete(entry);
    },
    size: () => entries.size,
  };
}
