/** One measured run and its repetitions, the pre-load answer check, and the quick run's log check. */
import { readFile } from 'node:fs/promises';
import { exchange } from './https-client.js';
import type { LoadGenerator } from './load-client.js';
import type { LoadJob } from './load-job.js';
import { watchProcess } from './proc-stats.js';
import { errorCount, type PhaseName, type RunRow } from './report.js';
import type { BenchReview, Webhook } from './reviews.js';
import type { ServerProcess } from './servers.js';
import type { Settings } from './settings.js';

/** The apiserver appends its webhook timeout to every call. */
const QUERY = '?timeout=10s';

/** The request path of a webhook call, as the apiserver sends it. */
export function webhookPath(webhook: Webhook): string {
  return `/${webhook}${QUERY}`;
}

/** The file holding a review's body for one webhook (see RunContext.bodyFiles). */
export function bodyKey(review: string, webhook: Webhook): string {
  return `${review}/${webhook}`;
}

const print = (text: string) => process.stdout.write(text);

/** Checks one answer of one server before any load: status, envelope, uid, decision. */
export async function preflight(server: ServerProcess, caPem: string, webhook: Webhook, review: BenchReview): Promise<string | undefined> {
  const path = webhookPath(webhook);
  const where = `${server.name} ${path} ${review.name}`;
  try {
    const r = await exchange(server.port, caPem, { method: 'POST', path, body: review.bodies[webhook] });
    // The start of an error body names the problem; the rest would flood the report.
    if (r.status !== 200) return `${where}: HTTP ${r.status}: ${r.text.slice(0, 300)}`;
    const answer = JSON.parse(r.text) as { response?: { uid?: string; allowed?: boolean } };
    const uid = (JSON.parse(review.bodies[webhook].toString('utf8')) as { request: { uid: string } }).request.uid;
    const expected = server.name === 'baseline' ? true : review.allowed[webhook];
    if (answer.response?.uid !== uid) return `${where}: response uid ${answer.response?.uid} is not the request's ${uid}`;
    if (answer.response?.allowed !== expected) return `${where}: allowed=${answer.response?.allowed}, expected ${expected}`;
  } catch (err) {
    return `${where}: ${(err as Error).message}`;
  }
  return undefined;
}

/** What every run needs: the settings, the load generator, the CA and the review bodies' files. */
export interface RunContext {
  settings: Settings;
  load: LoadGenerator;
  caPem: string;
  /** Body files by {@link bodyKey}. */
  bodyFiles: ReadonlyMap<string, string>;
}

/** Options of one run beyond the phase's defaults. */
export interface RunOptions {
  /** Paced: requests per second asked for. */
  rate?: number;
}

/** Warms up, then measures one server on one path with one review. */
export async function measureRun(c: RunContext, phase: PhaseName, server: ServerProcess, webhook: Webhook, review: BenchReview, opts: RunOptions = {}): Promise<RunRow> {
  const { rate } = opts;
  const connections = rate ? c.settings.pacedConnections : c.settings.connections;
  const warmupSeconds = c.settings.warmupSeconds;
  const job: LoadJob = {
    port: server.port,
    path: webhookPath(webhook),
    bodyFile: c.bodyFiles.get(bodyKey(review.name, webhook))!,
    caPem: c.caPem,
    connections,
    durationSeconds: c.settings.durationSeconds,
    ...(rate ? { rate } : {}),
    // Quick: a fixed number of answers per run, fewer of the 1 MiB review.
    ...(c.settings.quick ? { amount: review.name === 'large' ? 20 : rate ? 40 : 200 } : {}),
    ...(c.settings.quick ? { expectAllowed: server.name === 'baseline' ? true : review.allowed[webhook] } : {}),
  };
  if (warmupSeconds > 0) await c.load.run({ ...job, durationSeconds: warmupSeconds });
  const watch = watchProcess(server.pid);
  const load = await c.load.run(job);
  const proc = watch.stop();
  const row: RunRow = {
    phase,
    review: review.name,
    server: server.name,
    webhook,
    connections,
    ...(rate ? { targetRate: rate } : {}),
    load,
    serverCpuSeconds: proc.cpuSeconds,
    cpuMicrosPerReview: load.responses ? (proc.cpuSeconds * 1e6) / load.responses : 0,
    serverCores: proc.cpuSeconds / load.durationSeconds,
    generatorCores: load.generatorCpuSeconds / load.durationSeconds,
    otherCores: Math.max(0, proc.machineBusySeconds - proc.cpuSeconds - load.generatorCpuSeconds - proc.selfCpuSeconds) / load.durationSeconds,
    peakRssBytes: proc.peakRssBytes,
  };
  const l = load.latencyMs;
  print(`  [${(performance.now() / 1000).toFixed(1)}s] ${phase.padEnd(8)} ${review.name.padEnd(6)} ${server.name.padEnd(17)} ${job.path.replace(QUERY, '').padEnd(10)} ${Math.round(load.requestsPerSecond).toString().padStart(6)} req/s  p99 ${l.p99.toFixed(2)} ms  errors ${errorCount(load)}${rate ? `  (asked ${rate}/s)` : ''}\n`);
  return row;
}

/**
 * Runs a group of measurements (a baseline and the gate runs compared with it) `times` times and keeps
 * the group least disturbed by other processes on the machine: the comparison needs both sides under
 * the same conditions, and another process taking a core halves whichever run it lands on.
 */
export async function repeated(times: number, discarded: RunRow[], group: () => Promise<RunRow[]>): Promise<RunRow[]> {
  let kept: RunRow[] | undefined;
  const disturbance = (g: RunRow[]) => Math.max(...g.map((r) => r.otherCores));
  for (let i = 0; i < times; i++) {
    const g = await group();
    if (!kept || disturbance(g) < disturbance(kept)) {
      if (kept) discarded.push(...kept);
      kept = g;
    } else discarded.push(...g);
  }
  return kept ?? [];
}

/** Counts the gate's decision lines and error lines in its log file. */
export async function logCounts(file: string): Promise<{ decisions: number; errors: number }> {
  const text = await readFile(file, 'utf8');
  let decisions = 0;
  let errors = 0;
  for (const line of text.split('\n')) {
    if (line.includes('"msg":"admission decision"')) decisions++;
    if (line.includes('"level":"error"') || line.includes('"level":"fatal"')) errors++;
  }
  return { decisions, errors };
}
