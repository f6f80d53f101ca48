/**
 * The slice of autocannon 8's programmatic API the benchmark uses (the package ships no types).
 * `Client` internals are typed because the paced phase drives autocannon's own per-connection rate gate.
 */
declare module 'autocannon' {
  import type { EventEmitter } from 'node:events';
  import type { TLSSocket } from 'node:tls';

  namespace autocannon {
    /** One connection of a run. */
    interface Client extends EventEmitter {
      conn: TLSSocket;
      rate: number | undefined;
      rateInterval: NodeJS.Timeout | undefined;
      reqsMadeThisSecond: number;
      paused: boolean;
      destroyed: boolean;
      _doRequest(cer?: unknown): void;
    }

    interface Histogram {
      average: number;
      mean: number;
      stddev: number;
      min: number;
      max: number;
      total: number;
      p50: number;
      p90: number;
      p99: number;
    }

    interface Options {
      url: string;
      method?: string;
      headers?: Record<string, string>;
      body?: string | Buffer;
      connections?: number;
      pipelining?: number;
      duration?: number;
      amount?: number;
      sampleInt?: number;
      timeout?: number;
      connectionRate?: number;
      overallRate?: number;
      servername?: string;
      tlsOptions?: { ca?: string | Buffer; [key: string]: unknown };
      setupClient?: (client: Client) => void;
      verifyBody?: (body: string) => boolean;
    }

    interface Result {
      requests: Histogram;
      latency: Histogram;
      throughput: Histogram;
      duration: number;
      errors: number;
      timeouts: number;
      mismatches: number;
      non2xx: number;
      resets: number;
      statusCodeStats: Record<string, { count: number }>;
      start: Date;
      finish: Date;
    }

    interface Instance extends EventEmitter, PromiseLike<Result> {
      stop(): void;
    }
  }

  function autocannon(opts: autocannon.Options, cb?: (err: Error | null, result: autocannon.Result) => void): autocannon.Instance;

  export = autocannon;
}
