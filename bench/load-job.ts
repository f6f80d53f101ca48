/** What the benchmark asks of the load generator process, and what it answers. Shared by both sides. */

/** One load run against one server and path. */
export interface LoadJob {
  port: number;
  /** Path with the apiserver's `?timeout=` query. */
  path: string;
  /** File holding the request body (bodies of up to 1 MiB are not sent over IPC). */
  bodyFile: string;
  caPem: string;
  connections: number;
  durationSeconds: number;
  /** Stop after this many requests instead (quick runs: autocannon's durations are whole seconds). */
  amount?: number;
  /** Requests per second over all connections, paced open-loop; absent = as fast as the server answers. */
  rate?: number;
  /** When set, every response body is parsed and checked (costs the generator CPU: only for --quick). */
  expectAllowed?: boolean;
}

/** Latency percentiles in milliseconds, from every response of the measured run. */
export interface Latency {
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

/** Outcome of one measured run. */
export interface LoadResult {
  /** Responses received (any status). */
  responses: number;
  durationSeconds: number;
  requestsPerSecond: number;
  latencyMs: Latency;
  /** Socket errors and timeouts. */
  socketErrors: number;
  timeouts: number;
  non2xx: number;
  /** Responses whose body was not the expected answer (only checked with `expectAllowed`). */
  mismatches: number;
  /** Connections whose certificate did not verify against the CA and server name. */
  tlsUnverified: number;
  statusCodes: Record<string, number>;
  /** CPU the load generator itself used during the measured run. */
  generatorCpuSeconds: number;
  /** Paced runs: arrivals released and those delayed by a busy connection. */
  paced?: { released: number; late: number };
}
