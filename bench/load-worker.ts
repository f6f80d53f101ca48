/**
 * The load generator process: autocannon over HTTPS with keep-alive, one job at a time, driven over IPC
 * by the benchmark (`fork('bench/load-worker.ts')`). Runs in its own process so the servers' CPU
 * accounting never includes it; on a 2-core machine it still competes with them for the cores.
 */
import { readFileSync } from 'node:fs';
import autocannon from 'autocannon';
import { SERVERNAME } from './https-client.js';
import type { LoadJob, LoadResult } from './load-job.js';
import { createPacer } from './pacing.js';
import { createSamples } from './percentiles.js';

const bodies = new Map<string, Buffer>();

function bodyOf(file: string): Buffer {
  let b = bodies.get(file);
  if (!b) bodies.set(file, (b = readFileSync(file)));
  return b;
}

function options(job: LoadJob, durationSeconds: number): autocannon.Options {
  return {
    ...(job.amount ? { amount: job.amount } : {}),
    url: `https://127.0.0.1:${job.port}${job.path}`,
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, */*' },
    body: bodyOf(job.bodyFile),
    connections: job.connections,
    pipelining: 1,
    duration: durationSeconds,
    // autocannon notices the end of a run at its sample ticks (1 s by default): 100 ms ends short runs on time.
    sampleInt: 100,
    // The apiserver's default webhook timeout.
    timeout: 10,
    servername: SERVERNAME,
    tlsOptions: { ca: job.caPem },
  };
}

function verifier(expected: boolean) {
  return (text: string): boolean => {
    try {
      const r = JSON.parse(text) as { apiVersion?: string; kind?: string; response?: { uid?: unknown; allowed?: unknown } };
      return r.apiVersion === 'admission.k8s.io/v1' && r.kind === 'AdmissionReview' && typeof r.response?.uid === 'string' && r.response.allowed === expected;
    } catch {
      return false;
    }
  };
}

/** autocannon options for a run of `durationSeconds`, paced when the job has a rate. */
function configure(job: LoadJob, durationSeconds: number) {
  const opts = options(job, durationSeconds);
  const pacer = job.rate ? createPacer(job.rate / job.connections) : undefined;
  if (pacer) {
    // Any rate ≥ 1 turns on autocannon's per-connection gate; the pacer decides when it opens.
    opts.connectionRate = 1;
    opts.setupClient = pacer.setupClient;
  }
  if (job.expectAllowed !== undefined) opts.verifyBody = verifier(job.expectAllowed);
  return { opts, pacer };
}

async function run(job: LoadJob): Promise<LoadResult> {
  const { opts, pacer } = configure(job, job.durationSeconds);

  const samples = createSamples();
  const checked = new WeakSet<object>();
  let tlsUnverified = 0;
  const cpu0 = process.cpuUsage();
  const instance = autocannon(opts);
  instance.on('response', (client: autocannon.Client, _status: number, _bytes: number, ms: number) => {
    samples.push(ms);
    // autocannon connects with rejectUnauthorized: false; `authorized` still tells whether the CA and name verified.
    if (!checked.has(client.conn)) {
      checked.add(client.conn);
      if (!client.conn.authorized) tlsUnverified++;
    }
  });
  const result = await instance;
  const cpu = process.cpuUsage(cpu0);
  const statusCodes = Object.fromEntries(Object.entries(result.statusCodeStats).map(([k, v]) => [k, v.count]));
  return {
    responses: samples.count,
    durationSeconds: result.duration,
    requestsPerSecond: samples.count / result.duration,
    latencyMs: samples.summary(),
    socketErrors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    mismatches: result.mismatches,
    tlsUnverified,
    statusCodes,
    generatorCpuSeconds: (cpu.user + cpu.system) / 1e6,
    ...(pacer ? { paced: { ...pacer.stats } } : {}),
  };
}

process.on('message', (msg: { id: number; job: LoadJob }) => {
  run(msg.job).then(
    (result) => process.send!({ id: msg.id, result }),
    (err: unknown) => process.send!({ id: msg.id, error: String((err as Error)?.stack ?? err) }),
  );
});
process.once('disconnect', () => process.exit(0));
