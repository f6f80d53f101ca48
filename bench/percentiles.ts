/** Exact percentiles of recorded samples (autocannon's own histogram rounds latencies to whole milliseconds). */
import type { Latency } from './load-job.js';

/** A growable buffer of float samples. */
export function createSamples(initial = 1 << 16) {
  let data = new Float64Array(initial);
  let n = 0;
  return {
    push(v: number) {
      if (n === data.length) {
        const bigger = new Float64Array(data.length * 2);
        bigger.set(data);
        data = bigger;
      }
      data[n++] = v;
    },
    get count() {
      return n;
    },
    /** Nearest-rank percentiles, mean and max. */
    summary(): Latency {
      if (n === 0) return { p50: 0, p90: 0, p99: 0, max: 0, mean: 0 };
      const sorted = data.slice(0, n).sort();
      const at = (q: number) => sorted[Math.min(n - 1, Math.ceil(q * n) - 1)]!;
      let sum = 0;
      for (let i = 0; i < n; i++) sum += sorted[i]!;
      return { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: sorted[n - 1]!, mean: sum / n };
    },
  };
}
