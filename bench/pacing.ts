/**
 * Open-loop pacing for autocannon. Its own rate limit lets each connection send its whole per-second
 * quota back to back when the second starts, and all connections' seconds start together: the server
 * would see one burst at full concurrency every second, not the rate asked for. Here each connection is
 * released one request at a time at exponentially distributed intervals (a Poisson process per
 * connection, so the sum over connections is Poisson too, like independent apiserver requests),
 * through autocannon's own per-connection gate (`reqsMadeThisSecond` against `rate`).
 */
import type autocannon from 'autocannon';

/** Counts of a paced run: arrivals released, and those that found their connection still busy. */
export interface PacingStats {
  released: number;
  /** Arrivals sent late because the previous request on the connection had not been answered yet. */
  late: number;
}

/** A `setupClient` that paces each connection at `perConnectionRate` requests per second. */
export function createPacer(perConnectionRate: number): { setupClient: (client: autocannon.Client) => void; stats: PacingStats } {
  const stats: PacingStats = { released: 0, late: 0 };
  const meanMs = 1000 / perConnectionRate;
  const setupClient = (client: autocannon.Client) => {
    // Closed until the first arrival: the constructor's first request finds the gate shut and pauses.
    client.reqsMadeThisSecond = Number.POSITIVE_INFINITY;
    const arrive = () => {
      if (client.destroyed) return;
      stats.released++;
      const rate = client.rate ?? 1;
      // One more request allowed: `reqsMadeThisSecond++ < rate` lets exactly one through.
      client.reqsMadeThisSecond = rate - 1;
      if (client.paused) {
        client.paused = false;
        client._doRequest();
      } else stats.late++;
      setTimeout(arrive, -Math.log(1 - Math.random()) * meanMs);
    };
    // After the constructor has started autocannon's per-second reset timer: replace it with the arrivals.
    setImmediate(() => {
      clearInterval(client.rateInterval);
      client.rateInterval = undefined;
      setTimeout(arrive, Math.random() * meanMs);
    });
  };
  return { setupClient, stats };
}
