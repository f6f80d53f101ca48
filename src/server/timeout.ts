/** The `?timeout=` the apiserver appends to webhook calls: a Go duration such as `10s` or `2.5s`. */

const UNIT_MS: Readonly<Record<string, number>> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const DURATION_RE = /^(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/;

/** Milliseconds of a Go duration string, or undefined when it is not one. */
export function parseGoDuration(text: string): number | undefined {
  let rest = text.trim();
  if (!rest) return undefined;
  let total = 0;
  while (rest) {
    const m = DURATION_RE.exec(rest);
    if (!m) return undefined;
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
    rest = rest.slice(m[0].length);
  }
  return total;
}

/** The budget for one review: the apiserver's timeout when given and smaller than our own cap. */
export function requestBudgetMs(query: unknown, capMs: number): number {
  const t = typeof query === 'string' ? parseGoDuration(query) : undefined;
  return t !== undefined && t > 0 ? Math.min(t, capMs) : capMs;
}
