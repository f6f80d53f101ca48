/**
 * Diagnosis aid, not a phase: the gate's CPU per review on one review and webhook under variants of its
 * command line, node flags, environment, or the baseline+policies server, each started in turn against one
 * build, one test API server and one load generator, so the variants of one run compare with each other.
 *
 *   PROBE_ROUNDS=2 PROBE_VARIANTS='[{"name":"gate","devNull":true},
 *     {"name":"gate, no decision lines","devNull":true,"args":["--log-level","warn"]},
 *     {"name":"baseline+policies","policies":true}]' npx tsx bench/gate-probe.ts deny validate 4
 *
 * A variant: `args` (extra `serve` flags), `node` (node flags, e.g. `--cpu-prof`, `--trace-gc`: the log file
 * then goes to /tmp/gc-<name>.log with PROBE_KEEP_LOG=1), `env`, `devNull` (log to /dev/null as the
 * benchmark does), `policies` (the baseline+policies server instead of the gate). Prints CPU µs per review
 * (all threads, /proc), req/s, RSS and the answers including warm-up (to normalise a profile per review).
 */
import { fork, spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureDevCerts, serviceDnsNames } from '../src/certs/index.js';
import { startBenchCluster } from './cluster.js';
import { createEngine, writeBenchKeyDir } from './engine.js';
import { startLoadGenerator } from './load-client.js';
import { webhookPath } from './measure.js';
import { watchProcess } from './proc-stats.js';
import { buildProductionLayout } from './prod-build.js';
import { buildReviews } from './reviews.js';
import { waitReady } from './https-client.js';

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const [reviewName = 'deny', webhook = 'validate', secs = '4'] = process.argv.slice(2) as [string, 'validate' | 'mutate', string];
const VARIANTS: { name: string; args?: string[]; nodeOptions?: string; node?: string[]; devNull?: boolean; env?: Record<string, string>; policies?: boolean }[] = JSON.parse(process.env.PROBE_VARIANTS ?? '[{"name":"as is"}]');

/** A port nobody listens on now (the gate takes a port number on its command line). */
function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => ok(port));
    });
  });
}

const tmp = await mkdtemp(join(tmpdir(), 'tracegate-probe-'));
try {
  const certs = (await ensureDevCerts({ dir: join(tmp, 'certs'), dnsNames: [...serviceDnsNames('tracegate', 'tracegate'), 'localhost'], ipAddresses: ['127.0.0.1'] })).paths;
  const caPem = await readFile(certs.caCert, 'utf8');
  const keys = await writeBenchKeyDir(join(tmp, 'provenance'));
  const engine = await createEngine(join(REPO_ROOT, 'config/dev-namespaces.yaml'), REPO_ROOT, keys);
  const [layout, reviews] = await Promise.all([buildProductionLayout(REPO_ROOT, join(tmp, 'app')), buildReviews(engine)]);
  const review = reviews.find((r) => r.name === reviewName)!;
  const bodyFile = join(tmp, 'body.json');
  await writeFile(bodyFile, review.bodies[webhook]);
  const cluster = await startBenchCluster(REPO_ROOT, 'config/dev-namespaces.yaml', tmp);
  const load = startLoadGenerator(REPO_ROOT);
  for (let round = 0; round < Number(process.env.PROBE_ROUNDS ?? 2); round++) {
    for (const v of VARIANTS) {
      let port = await freePort();
      const logFile = join(tmp, `gate-${round}-${v.name.replace(/\W/g, '_')}.log`);
      const fd = openSync(v.devNull ? '/dev/null' : logFile, v.devNull ? 'a' : 'w');
      const env = { ...process.env, ...layout.env };
      delete env.NODE_OPTIONS;
      Object.assign(env, v.env ?? {});
      env.NODE_OPTIONS = v.nodeOptions ?? layout.env.NODE_OPTIONS ?? '';
      const child = v.policies
        ? fork(layout.policyServer, [certs.tlsCert, certs.tlsKey, join(REPO_ROOT, 'config/dev-namespaces.yaml'), keys], { cwd: layout.root, env, execArgv: v.node ?? [], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] })
        : spawn(process.execPath, [...(v.node ?? []), layout.bin, 'serve', '--port', String(port), '--host', '127.0.0.1', '--tls-cert', certs.tlsCert, '--tls-key', certs.tlsKey, '--tls-ca', certs.caCert,
        '--tenancy', 'cluster', '--kubeconfig', cluster.kubeconfig, '--provenance-keys', keys, '--log-level', 'info', ...(v.args ?? [])], { cwd: layout.root, env, stdio: ['ignore', fd, 'inherit'] });
      closeSync(fd);
      if (v.policies) port = await new Promise<number>((ok) => child.once('message', (m) => ok((m as { port: number }).port)));
      await waitReady(port, caPem, '/readyz', () => child.exitCode === null, 60_000);
      const job = { port, path: webhookPath(webhook), bodyFile, caPem, connections: 10, durationSeconds: 2 };
      const warm = await load.run(job);
      const watch = watchProcess(child.pid!);
      const r = await load.run({ ...job, durationSeconds: Number(secs) });
      const p = watch.stop();
      const rss = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1];
      child.kill('SIGINT');
      await new Promise((ok) => child.once('exit', ok));
      const log = v.devNull ? '' : readFileSync(logFile, 'utf8');
      const gcs = { scav: (log.match(/Scavenge/g) ?? []).length, mark: (log.match(/Mark-Compact|Mark-sweep/gi) ?? []).length };
      process.stdout.write(`${round} ${v.name.padEnd(28)} ${(p.cpuSeconds * 1e6 / r.responses).toFixed(0).padStart(5)} µs/review  ${Math.round(r.requestsPerSecond)} req/s  cores ${(p.cpuSeconds / r.durationSeconds).toFixed(2)} other ${((p.machineBusySeconds - p.cpuSeconds - r.generatorCpuSeconds - p.selfCpuSeconds) / r.durationSeconds).toFixed(2)}  rss ${Math.round(Number(rss) / 1024)} MB  gc ${JSON.stringify(gcs)} errors ${r.non2xx + r.socketErrors} total answers ${warm.responses + r.responses}\n`);
      if (process.env.PROBE_KEEP_LOG) { const { writeFileSync } = await import('node:fs'); writeFileSync(`/tmp/gc-${v.name.replace(/\W/g, '_')}.log`, log.split('\n').filter((l) => /Mark|Scav|Sweep/.test(l)).join('\n')); }
    }
  }
  await load.stop();
  await cluster.close();
} finally {
  await rm(tmp, { recursive: true, force: true });
}
