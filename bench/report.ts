/** The benchmark's rows, the gate/baseline ratios, the issue's targets, and their text tables. */
import type { CheckCliResult } from './check-cli.js';
import { macMicros, type EngineRow } from './engine.js';
import type { LoadResult } from './load-job.js';
import type { ReviewName } from './reviews.js';
import type { ServerName } from './servers.js';

/** The load phases: maximum throughput on each webhook, then paced. */
export type PhaseName = 'validate' | 'mutate' | 'rate';

/** One measured run: one server, one webhook path, one review. */
export interface RunRow {
  phase: PhaseName;
  review: ReviewName;
  server: ServerName;
  webhook: 'validate' | 'mutate';
  connections: number;
  /** Paced runs: the requests per second asked for. */
  targetRate?: number;
  load: LoadResult;
  serverCpuSeconds: number;
  /** Server CPU per answered review, microseconds. */
  cpuMicrosPerReview: number;
  /** Server CPU over the run, in cores (1.0 = one core busy all the time). */
  serverCores: number;
  generatorCores: number;
  /**
   * Cores busy in processes other than the server, the load generator and the benchmark itself: other
   * work on the machine competing for the same cores (anything above ~0.1 disturbs the run).
   */
  otherCores: number;
  peakRssBytes: number;
}

/** Socket errors (timeouts included), non-2xx answers, wrong answers and unverified TLS connections. */
export function errorCount(load: LoadResult): number {
  return load.socketErrors + load.non2xx + load.mismatches + load.tlsUnverified;
}

/** The machine a result was measured on. */
export interface Machine {
  cpuModel: string;
  cores: number;
  node: string;
  kernel: string;
  memoryGiB: number;
}

/** Aligns a table: the first `textColumns` columns to the left, numbers to the right. */
function pad(cells: string[][], textColumns = 3): string {
  const widths = cells[0]!.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  return cells.map((r) => r.map((c, i) => (i < textColumns ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')).join('\n');
}

const f0 = (n: number) => Math.round(n).toLocaleString('en-US');
const f2 = (n: number) => n.toFixed(2);
const ratio = (a: number, b: number) => (b > 0 ? `${(a / b).toFixed(2)}×` : '–');

const HEADER = ['review', 'server', 'path', 'req/s', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'errors', 'CPU µs/review', 'server cores', 'loadgen cores', 'other cores', 'peak RSS MB'];

function cells(r: RunRow): string[] {
  const l = r.load;
  return [r.review, r.server, `/${r.webhook}`, f0(l.requestsPerSecond), f2(l.latencyMs.p50), f2(l.latencyMs.p90), f2(l.latencyMs.p99), f2(l.latencyMs.max), String(errorCount(l)), f0(r.cpuMicrosPerReview), f2(r.serverCores), f2(r.generatorCores), f2(r.otherCores), (r.peakRssBytes / 2 ** 20).toFixed(0)];
}

function ratioCells(g: RunRow, b: RunRow): string[] {
  const gl = g.load.latencyMs;
  const bl = b.load.latencyMs;
  return [g.review, `${g.server}/baseline`, `/${g.webhook}`, ratio(g.load.requestsPerSecond, b.load.requestsPerSecond), ratio(gl.p50, bl.p50), ratio(gl.p90, bl.p90), ratio(gl.p99, bl.p99), ratio(gl.max, bl.max), '', ratio(g.cpuMicrosPerReview, b.cpuMicrosPerReview), '', '', '', ratio(g.peakRssBytes, b.peakRssBytes)];
}

/** The row of `server` compared with `g` (same phase, review and, unless the baseline, webhook). */
function rowOf(rows: readonly RunRow[], g: RunRow, server: ServerName): RunRow | undefined {
  return rows.find((r) => r.phase === g.phase && r.review === g.review && r.server === server && (server === 'baseline' || r.webhook === g.webhook));
}

/** The baseline row a gate row is compared with (same phase and review). */
export function baselineFor(rows: readonly RunRow[], g: RunRow): RunRow | undefined {
  return rowOf(rows, g, 'baseline');
}

/**
 * A text table of one phase, per review: the baseline, then the baseline+policies and gate rows each
 * followed by its ratio to the baseline.
 */
export function formatPhase(title: string, rows: readonly RunRow[]): string {
  const table: string[][] = [HEADER];
  for (const review of [...new Set(rows.map((r) => r.review))]) {
    const of = rows.filter((r) => r.review === review);
    const base = of.find((r) => r.server === 'baseline');
    if (base) table.push(cells(base));
    for (const g of of.filter((r) => r.server !== 'baseline')) {
      table.push(cells(g));
      if (base) table.push(ratioCells(g, base));
    }
  }
  return `${title}\n${pad(table)}\n`;
}

/** One of the issue's targets, checked on one review. */
export interface TargetCheck {
  target: string;
  review: string;
  value: number;
  limit: number;
  met: boolean;
  /** Throughput and latency targets: what the baseline+policies server reached in the same run. */
  ceiling?: number;
}

// The issue's targets: throughput relative to the baseline, latency at half load, memory.
const VALIDATE_MIN_RATIO = 0.8;
const MUTATE_MIN_RATIO = 0.7;
const HALF_LOAD_P99_MAX_MS = 5;
const RSS_MAX_MB = 150;

/** Checks every target on every review. */
export function checkTargets(rows: readonly RunRow[]): TargetCheck[] {
  const out: TargetCheck[] = [];
  for (const g of rows.filter((r) => r.server === 'gate')) {
    const base = baselineFor(rows, g);
    if ((g.phase === 'validate' || g.phase === 'mutate') && base) {
      const limit = g.phase === 'validate' ? VALIDATE_MIN_RATIO : MUTATE_MIN_RATIO;
      const value = g.load.requestsPerSecond / base.load.requestsPerSecond;
      const bare = rowOf(rows, g, 'baseline+policies');
      const ceiling = bare ? bare.load.requestsPerSecond / base.load.requestsPerSecond : undefined;
      out.push({ target: `${g.phase} throughput ≥ ${limit * 100}% of baseline`, review: g.review, value, limit, met: value >= limit, ...(ceiling !== undefined ? { ceiling } : {}) });
    }
    if (g.phase === 'rate') {
      const p99 = g.load.latencyMs.p99;
      const bare = rowOf(rows, g, 'baseline+policies')?.load.latencyMs.p99;
      out.push({ target: `p99 at half load ≤ ${HALF_LOAD_P99_MAX_MS} ms (/${g.webhook})`, review: g.review, value: p99, limit: HALF_LOAD_P99_MAX_MS, met: p99 <= HALF_LOAD_P99_MAX_MS, ...(bare !== undefined ? { ceiling: bare } : {}) });
    }
    out.push({ target: `no errors (${g.phase} /${g.webhook})`, review: g.review, value: errorCount(g.load), limit: 0, met: errorCount(g.load) === 0 });
    const mb = g.peakRssBytes / 2 ** 20;
    out.push({ target: `peak RSS ≤ ${RSS_MAX_MB} MB (${g.phase} /${g.webhook})`, review: g.review, value: mb, limit: RSS_MAX_MB, met: mb <= RSS_MAX_MB });
  }
  return out;
}

/** The targets as lines: throughput and latency per review, errors and memory summarised. */
export function formatTargets(checks: readonly TargetCheck[]): string {
  const lines = checks
    .filter((c) => !c.target.startsWith('no errors') && !c.target.startsWith('peak RSS'))
    .map((c) => {
      const show = (v: number) => (c.target.includes('ms') ? `${v.toFixed(2)} ms` : `${(v * 100).toFixed(0)}%`);
      const ceiling = c.ceiling !== undefined ? `   (baseline+policies: ${show(c.ceiling)})` : '';
      return `  ${c.met ? 'met ' : 'MISS'}  ${c.target.padEnd(38)} ${c.review.padEnd(7)} ${show(c.value).padStart(9)}${ceiling}`;
    });
  const errs = checks.filter((c) => c.target.startsWith('no errors'));
  const rss = checks.filter((c) => c.target.startsWith('peak RSS'));
  lines.push(`  ${errs.every((c) => c.met) ? 'met ' : 'MISS'}  no errors in any gate run (${errs.filter((c) => !c.met).length} runs with errors)`);
  lines.push(`  ${rss.every((c) => c.met) ? 'met ' : 'MISS'}  peak RSS ≤ ${RSS_MAX_MB} MB (highest ${Math.max(...rss.map((c) => c.value)).toFixed(0)} MB)`);
  return `Targets (issue #6)\n${lines.join('\n')}\n`;
}

const pct = (part: number, whole: number | undefined) => (whole ? `${((part / whole) * 100).toFixed(1)}%` : '–');

/**
 * The in-process engine table, then the MAC work per review; `gateCpu` gives the gate's CPU µs per review
 * of the same review and webhook from the load phases, when they ran.
 */
export function formatEngine(rows: readonly EngineRow[], gateCpu: (review: string, webhook: 'validate' | 'mutate') => number | undefined = () => undefined): string {
  const table = [['review', 'body KB (mutate/validate)', 'evaluate/s', 'validate/s', 'mutate/s', 'decode+validate/s', 'decode+mutate/s', 'decode+validate µs']];
  for (const r of rows) {
    const kb = `${(r.bodyBytes.mutate / 1024).toFixed(1)}/${(r.bodyBytes.validate / 1024).toFixed(1)}`;
    table.push([r.review, kb, f0(r.evaluate.perSecond), f0(r.validate.perSecond), f0(r.mutate.perSecond), f0(r.decodeValidate.perSecond), f0(r.decodeMutate.perSecond), f2(r.decodeValidate.microseconds)]);
  }
  const mac = [['review', 'stampsVerify µs', 'signedChangeId µs', 'stampHash µs', 'webhook', 'HMACs (verify+sign)', 'MAC µs/review', 'of decode+handler', 'of gate CPU/review']];
  for (const r of rows) {
    const m = r.mac;
    if (!m) continue;
    for (const webhook of ['validate', 'mutate'] as const) {
      const micros = macMicros(m, webhook);
      const total = webhook === 'validate' ? r.decodeValidate.microseconds : r.decodeMutate.microseconds;
      const first = webhook === 'validate';
      mac.push([first ? r.review : '', first ? f2(m.verify.microseconds) : '', first ? f2(m.sign.microseconds) : '', first ? f2(m.hash.microseconds) : '', `/${webhook}`, `${m.calls[webhook].verify}+${m.calls[webhook].sign}`, f2(micros), pct(micros, total), pct(micros, gateCpu(r.review, webhook))]);
    }
  }
  return `Engine in process (one core, no HTTP; decode = UTF-8 check + JSON.parse + envelope checks)\n${pad(table, 1)}\n\n` +
    'MAC work per review (HMAC-SHA-256 with the benchmark\'s key; µs per call measured alone, keyring calls counted in each handler;\n' +
    'stampHash is the template hash the MAC binds, shown for scale: the change id carried it before the MAC too)\n' +
    `${pad(mac, 1)}\n`;
}

/** The check CLI line. */
export function formatCheck(c: CheckCliResult): string {
  return `check CLI: ${f0(c.documents)} documents (${(c.inputBytes / 2 ** 20).toFixed(1)} MiB YAML) in ${c.wallSeconds.toFixed(2)} s = ${f0(c.docsPerSecond)} docs/s` +
    ` (startup ${c.startupSeconds.toFixed(2)} s; ${f0(c.docsPerSecondAfterStartup)} docs/s after it), CPU ${c.cpuSeconds.toFixed(2)} s, peak RSS ${f0(c.peakRssBytes / 2 ** 20)} MB` +
    ` (startup alone ${f0(c.startupPeakRssBytes / 2 ** 20)} MB), exit ${c.exitCode}${c.runs > 1 ? `; fastest of ${c.runs} runs, highest RSS of them` : ''}\n` +
    `  baseline (whole-text parse, bench/check-baseline.ts): ${c.baseline.wallSeconds.toFixed(2)} s = ${f0(c.baseline.docsPerSecond)} docs/s` +
    ` (${f0(c.baseline.docsPerSecondAfterStartup)} docs/s after startup), CPU ${c.baseline.cpuSeconds.toFixed(2)} s, peak RSS ${f0(c.baseline.peakRssBytes / 2 ** 20)} MB,` +
    ` exit ${c.baseline.exitCode}; report ${c.sameOutput ? 'identical' : 'DIFFERENT'}\n`;
}

/** The machine line. */
export function formatMachine(m: Machine): string {
  return `Machine: ${m.cpuModel}, ${m.cores} cores, ${m.memoryGiB.toFixed(0)} GiB, Linux ${m.kernel}, Node ${m.node}\n`;
}
