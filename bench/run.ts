/**
 * `npm run bench`: the gate against the physical limit of its stack on this machine (issue #6).
 * Starts, in one run, the gate (`tracegate serve`, bundled policies, production logging) and the
 * baseline server in child processes, drives both with autocannon from a third process over HTTPS with
 * keep-alive, and reports per phase (validate, mutate, paced at half the baseline's maximum) the
 * throughput, latency, errors, server CPU per review and peak RSS, with gate/baseline ratios. Then
 * the engine in process (with the MAC work per review), `tracegate check` over 10,000 documents, the
 * background audit over 20,000 workloads against the engine alone (bench/audit.ts) and 50 rollbacks under
 * API Priority and Fairness throttling without and with the install's FlowSchema (bench/rollback.ts). JSON
 * goes to bench/results/. Every server, the engine and the reviews' stamps share one provenance key,
 * written into the run's temporary directory; /validate gets each review as the gate's /mutate left it.
 *
 * `npm run bench -- --quick`: a few seconds of everything, asserting only that it all completes without
 * errors (exit 1 otherwise); never judges a timing. Other flags: --duration S, --warmup S,
 * --connections N, --repeat N (run each comparison N times, keep the one least disturbed by other
 * processes), --phases validate,mutate,rate,engine,check,rss,approval,audit,rollback, --reviews create,update,large,deny,
 * --cpu-prof (profile every server; the profiles and their summaries go to bench/results/),
 * --node-options "…" (NODE_OPTIONS of the servers instead of the install manifest's, for tuning experiments).
 */
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureDevCerts, serviceDnsNames, type CertPaths } from '../src/certs/index.js';
import type { KubeObject } from '../src/k8s/types.js';
import { approvalBenchSettings, formatApproval, measureApproval, type ApprovalBenchResult } from './approval.js';
import { auditBenchSettings, formatAudit, measureAudit, type AuditBenchResult } from './audit.js';
import { benchCheckCli, type CheckCliResult } from './check-cli.js';
import { startBenchCluster, type BenchCluster } from './cluster.js';
import { checkExpectations, createEngine, measureEngine, writeBenchKeyDir, type EngineRow } from './engine.js';
import { startLoadGenerator, type LoadGenerator } from './load-client.js';
import { bodyKey, logCounts, measureRun, preflight, repeated, type RunContext } from './measure.js';
import { rssBytes } from './proc-stats.js';
import { buildProductionLayout } from './prod-build.js';
import { formatProfile, summarizeProfileFile } from './profile-summary.js';
import { checkTargets, errorCount, formatCheck, formatEngine, formatMachine, formatPhase, formatTargets, type PhaseName, type RunRow } from './report.js';
import { buildReviews } from './reviews.js';
import { formatRollback, measureRollback, rollbackBenchSettings, type RollbackBenchResult } from './rollback.js';
import { formatRssBreakdown, measureRssBreakdown, type RssStep } from './rss-breakdown.js';
import { startBaselineProcess, startGateProcess, type ServerProcess } from './servers.js';
import { machine, parseSettings } from './settings.js';

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const RESULTS_DIR = join(REPO_ROOT, 'bench', 'results');
/** The namespaces `npm start` uses: `shop` belongs to tenant `shop`, so the mutate path stamps a tenant. */
const NAMESPACES_FILE = 'config/dev-namespaces.yaml';

const print = (text: string) => process.stdout.write(text);

async function main(): Promise<number> {
  const settings = parseSettings(process.argv.slice(2));
  const m = machine();
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  print(formatMachine(m));
  print(`Mode: ${settings.quick ? 'quick (completion check only, timings not judged)' : 'full'}; ${settings.durationSeconds} s per run after ${settings.warmupSeconds} s warm-up; ` +
    `${settings.connections} keep-alive connections (paced phase: ${settings.pacedConnections}); load generator in its own process on the same cores` +
    `${settings.repeat > 1 ? `; each comparison ${settings.repeat}×, least disturbed kept` : ''}\n`);

  const tmp = await mkdtemp(join(tmpdir(), 'tracegate-bench-'));
  const problems: string[] = [];
  const rows: RunRow[] = [];
  /** Repetitions not shown (more disturbed by other processes than the one kept); all are in the JSON. */
  const discarded: RunRow[] = [];
  let engineRows: EngineRow[] = [];
  let check: CheckCliResult | undefined;
  let profileDir: string | undefined;
  const servers: ServerProcess[] = [];
  let load: LoadGenerator | undefined;
  let cluster: BenchCluster | undefined;
  let idleRss: { gate: number; baseline: number } | undefined;
  let rssSteps: RssStep[] = [];
  let approval: ApprovalBenchResult | undefined;
  let audit: AuditBenchResult | undefined;
  let rollback: RollbackBenchResult | undefined;
  try {
    const certs: CertPaths = (await ensureDevCerts({ dir: join(tmp, 'certs'), dnsNames: [...serviceDnsNames('tracegate', 'tracegate'), 'localhost'], ipAddresses: ['127.0.0.1'] })).paths;
    const caPem = await readFile(certs.caCert, 'utf8');
    const http = ['validate', 'mutate', 'rate'].some((p) => settings.phases.has(p));
    const gateLog = settings.quick ? join(tmp, 'gate.log') : '/dev/null';
    if (http && settings.cpuProf) await mkdir((profileDir = join(RESULTS_DIR, `${stamp}-profile`)), { recursive: true });
    // One key for the gate, the baseline+policies server, the engine and the reviews' stamps (--provenance-keys).
    const provenanceKeys = await writeBenchKeyDir(join(tmp, 'provenance'));
    const engine = await createEngine(join(REPO_ROOT, NAMESPACES_FILE), REPO_ROOT, provenanceKeys);
    // tsc and kubectl work at the same time; both are needed before anything is measured.
    const [layout, allReviews] = await Promise.all([buildProductionLayout(REPO_ROOT, join(tmp, 'app')), buildReviews(engine)]);
    if (settings.nodeOptions !== undefined) layout.env.NODE_OPTIONS = settings.nodeOptions;
    print(`  gate: compiled build in ${layout.root}, env ${JSON.stringify(layout.env)}\n`);
    const reviews = allReviews.filter((r) => settings.reviews.has(r.name));
    const bodyFiles = new Map<string, string>();
    for (const r of reviews) {
      for (const webhook of ['validate', 'mutate'] as const) {
        const file = join(tmp, `${r.name}.${webhook}.json`);
        await writeFile(file, r.bodies[webhook]);
        bodyFiles.set(bodyKey(r.name, webhook), file);
      }
      const kib = (b: Buffer) => (b.length / 1024).toFixed(1).padStart(6);
      print(`  review ${r.name.padEnd(6)} ${kib(r.bodies.mutate)} KiB to /mutate, ${kib(r.bodies.validate)} KiB to /validate  object ${r.objectYamlLines} YAML lines  ${r.description}\n`);
    }
    problems.push(...checkExpectations(engine, reviews));

    if (http) {
      cluster = await startBenchCluster(REPO_ROOT, NAMESPACES_FILE, tmp);
      const [gate, baseline, bare] = await Promise.all([
        startGateProcess({ layout, certs, caPem, kubeconfig: cluster.kubeconfig, logFile: gateLog, provenanceKeys, ...(profileDir ? { cpuProfDir: join(profileDir, 'gate') } : {}) }).then((g) => (servers.push(g), g)),
        startBaselineProcess({ layout, certs, caPem, ...(profileDir ? { cpuProfDir: join(profileDir, 'baseline') } : {}) }).then((b) => (servers.push(b), b)),
        startBaselineProcess({ layout, certs, caPem, policies: { namespacesFile: join(REPO_ROOT, NAMESPACES_FILE), provenanceKeys }, ...(profileDir ? { cpuProfDir: join(profileDir, 'policies') } : {}) }).then((b) => (servers.push(b), b)),
      ]);
      load = startLoadGenerator(REPO_ROOT);
      print(`  gate pid ${gate.pid} (log: ${gateLog}), baseline pid ${baseline.pid}, baseline+policies pid ${bare.pid}, load generator pid ${load.pid}\n`);
      idleRss = { gate: rssBytes(gate.pid), baseline: rssBytes(baseline.pid) };
      print(`  idle RSS after start: gate ${(idleRss.gate / 2 ** 20).toFixed(0)} MB, baseline ${(idleRss.baseline / 2 ** 20).toFixed(0)} MB\n`);
      for (const r of reviews) {
        for (const webhook of ['validate', 'mutate'] as const) {
          for (const s of servers) {
            const p = await preflight(s, caPem, webhook, r);
            if (p) problems.push(p);
          }
        }
      }
      const c: RunContext = { settings, load, caPem, bodyFiles };
      for (const phase of ['validate', 'mutate'] as const) {
        if (!settings.phases.has(phase)) continue;
        for (const r of reviews) {
          rows.push(...(await repeated(settings.repeat, discarded, async () => [await measureRun(c, phase, baseline, phase, r), await measureRun(c, phase, bare, phase, r), await measureRun(c, phase, gate, phase, r)])));
        }
      }
      if (settings.phases.has('rate')) {
        for (const r of reviews) {
          const max = rows.find((x) => x.phase === 'validate' && x.review === r.name && x.server === 'baseline') ?? (await measureRun(c, 'validate', baseline, 'validate', r));
          // Half the baseline's maximum: the load at which a webhook's latency, not its ceiling, matters.
          const rate = Math.max(1, Math.floor(max.load.requestsPerSecond / 2));
          rows.push(
            ...(await repeated(settings.repeat, discarded, async () => [
              await measureRun(c, 'rate', baseline, 'validate', r, { rate }),
              await measureRun(c, 'rate', bare, 'validate', r, { rate }),
              await measureRun(c, 'rate', gate, 'validate', r, { rate }),
              await measureRun(c, 'rate', gate, 'mutate', r, { rate }),
            ])),
          );
        }
      }
      await load.stop();
      for (const s of servers.splice(0)) {
        const code = await s.stop();
        if (code !== 0) problems.push(`${s.name} exited with code ${code}: ${s.stderr().slice(-1000)}`);
      }
      if (settings.quick) {
        const counts = await logCounts(gateLog);
        const answered = rows.filter((r) => r.server === 'gate').reduce((n, r) => n + r.load.responses, 0);
        if (counts.decisions < answered) problems.push(`gate logged ${counts.decisions} decisions for ${answered} measured reviews`);
        if (counts.errors) problems.push(`gate logged ${counts.errors} error lines`);
      }
    }
    for (const r of rows) if (errorCount(r.load)) problems.push(`${r.phase} ${r.review} ${r.server} /${r.webhook}: ${errorCount(r.load)} errors (${JSON.stringify({ socket: r.load.socketErrors, timeouts: r.load.timeouts, non2xx: r.load.non2xx, mismatches: r.load.mismatches, tls: r.load.tlsUnverified, status: r.load.statusCodes })})`);

    if (settings.phases.has('engine')) engineRows = measureEngine(engine, reviews, settings.engineMs);
    if (settings.phases.has('rss')) rssSteps = await measureRssBreakdown(layout);
    if (settings.phases.has('approval')) approval = await measureApproval(approvalBenchSettings(settings.quick)).catch((err: Error) => void problems.push(err.message));
    if (settings.phases.has('audit')) audit = await measureAudit(auditBenchSettings(settings.quick)).catch((err: Error) => void problems.push(err.message));
    if (settings.phases.has('rollback')) rollback = await measureRollback(rollbackBenchSettings(settings.quick)).catch((err: Error) => void problems.push(err.message));
    if (settings.phases.has('check')) {
      // The CREATE's object as a chart renders it: what CI pipelines feed `check`.
      const manifest = JSON.parse(allReviews.find((r) => r.name === 'create')!.bodies.mutate.toString('utf8')).request.object as KubeObject;
      delete manifest.metadata!.managedFields;
      check = await benchCheckCli(layout.root, tmp, manifest, settings.checkDocuments, settings.repeat);
      if (check.exitCode !== 0) problems.push(`check CLI exited ${check.exitCode}: ${check.stderr}`);
      if (!check.sameOutput) problems.push('check CLI: the report differs from the whole-text parse baseline');
    }
  } finally {
    await load?.stop();
    for (const s of servers) await s.stop();
    await cluster?.close();
    await rm(tmp, { recursive: true, force: true });
  }

  print('\n');
  const phaseTitles: Record<PhaseName, string> = {
    validate: `Phase validate: max throughput, POST /validate, ${settings.connections} connections`,
    mutate: `Phase mutate: max throughput, POST /mutate, ${settings.connections} connections`,
    rate: `Phase rate: paced (Poisson) at half the baseline's /validate maximum, ${settings.pacedConnections} connections`,
  };
  for (const phase of ['validate', 'mutate', 'rate'] as const) {
    const of = rows.filter((r) => r.phase === phase);
    if (of.length) print(`${formatPhase(phaseTitles[phase], of)}\n`);
  }
  const targets = checkTargets(rows);
  if (!settings.quick && targets.length) print(`${formatTargets(targets)}\n`);
  const gateCpu = (review: string, webhook: 'validate' | 'mutate') => rows.find((r) => r.phase === webhook && r.review === review && r.server === 'gate')?.cpuMicrosPerReview;
  if (engineRows.length) print(`${formatEngine(engineRows, gateCpu)}\n`);
  if (check) print(formatCheck(check));
  if (rssSteps.length) print(`\n${formatRssBreakdown(rssSteps)}`);
  if (approval) print(`\n${formatApproval(approval)}`);
  if (audit) print(`\n${formatAudit(audit)}`);
  if (rollback) print(`\n${formatRollback(rollback)}`);

  const profiles: string[] = [];
  if (profileDir) {
    for (const server of ['gate', 'baseline', 'policies']) {
      // The main thread's profile (thread id 0).
      const file = (await readdir(join(profileDir, server)).catch(() => [])).find((f) => /\.0\.\d+\.cpuprofile$/.test(f));
      if (!file) continue;
      const path = join(profileDir, server, file);
      profiles.push(path);
      print(`\n${server} CPU profile: ${path}\n${formatProfile(await summarizeProfileFile(path))}`);
    }
  }

  await mkdir(RESULTS_DIR, { recursive: true });
  const out = join(RESULTS_DIR, `${stamp}${settings.quick ? '-quick' : ''}.json`);
  await writeFile(out, `${JSON.stringify({ machine: m, settings: { ...settings, phases: [...settings.phases] }, idleRss, rssBreakdown: rssSteps, approval, audit, rollback, rows, discarded, targets: settings.quick ? undefined : targets, engine: engineRows, check, profiles, problems }, null, 2)}\n`);
  print(`\nResults: ${out}\n`);
  if (problems.length) {
    print(`\n${problems.length} problem(s):\n${problems.map((p) => `  - ${p}`).join('\n')}\n`);
    return 1;
  }
  print(settings.quick ? 'Quick run completed without errors.\n' : '');
  return 0;
}

process.exitCode = await main();
