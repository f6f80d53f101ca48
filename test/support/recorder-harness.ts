/**
 * The recorder against the test API server and the real helm v4 / v3 and kubectl binaries: a gate
 * stand-in in the server's admission hook (stamps the gate's provenance annotations with the right
 * template hash, or stays out of the way to simulate a bypass), recorder replicas started in-process
 * with their own identities, kubeconfig users, captured logs and processing events, the release
 * records as stored, and the `tracegate` CLI run in-process. One harness per test file.
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KubeConfig } from '@kubernetes/client-node';
import { parse } from 'yaml';
import { tracegateKeys } from '../../src/admission/annotations.js';
import { createCli } from '../../src/cli/main.js';
import { runHistoryCommand } from '../../src/cli/history.js';
import type { CliIo } from '../../src/cli/io.js';
import { runRecordCommand } from '../../src/cli/record.js';
import { runRollbackCommand } from '../../src/cli/rollback.js';
import type { KubeObject } from '../../src/k8s/types.js';
import type { RetryOptions } from '../../src/kube/retry.js';
import { createLogger } from '../../src/log.js';
import { fromSecret } from '../../src/recorder/codec.js';
import type { ProcessedEvent } from '../../src/recorder/controller.js';
import { templateChange } from '../../src/recorder/template-change.js';
import { findWorkloadDoc } from '../../src/recorder/workload-patch.js';
import { splitManifest } from '../../src/yaml/manifest-doc.js';
import type { HelmRelease } from '../../src/recorder/release.js';
import { startRecorder, type RecorderRunConfig, type RunningRecorder } from '../../src/recorder/run.js';
import { podTemplateOf } from '../../src/workload/pod-template.js';
import { templateChanged } from '../../src/workload/template-diff.js';
import { startTestApiServer } from './api-server/index.js';
import type { AdmissionHookRequest, TestApiServer, TestApiServerOptions } from './api-server/index.js';
import { stampAsGate, TEST_KEYRING } from './stamps.js';
import { ensureRealTools, runTool } from './tools.js';
import type { RealTools, ToolResult } from './tools.js';

/** Parsed JSON as tests read it. */
export type Any = Record<string, any>;

/** The tiny chart the tests install with the real helm binaries. */
export const CHART_DIR = fileURLToPath(new URL('../fixtures/charts/web', import.meta.url));

/** tracegate's annotation prefix, as the recorder and the gate use it by default. */
export const PREFIX = 'tracegate.io/';

/** Namespace of the recorders' Leases. */
export const LEASE_NAMESPACE = 'tracegate';

/** Fast API retries: the tests inject failures and should not wait out production backoff. */
export const TEST_RETRY: RetryOptions = { attempts: 4, baseDelayMs: 20, maxDelayMs: 200 };

// Only bounds a hang; a passing test never gets near it.
const WAIT_LIMIT_MS = 30_000;
// Short against a tool run (~100 ms), so waiting adds little to a test.
const POLL_MS = 10;
// Short leases for tests: a crashed replica is replaced in seconds; renewals ten times per lease.
const TEST_LEASE_MS = 2_000;
const TEST_RENEW_MS = 200;
// Helm's operations take a fraction of a second here: look again at a pending release soon.
const TEST_PENDING_RETRY_MS = 100;

/** How the gate stand-in treats Deployment writes; change it between steps of a test. */
export interface GateStamping {
  /** `stamp`: act as tracegate's mutating webhook; `bypass`: leave objects untouched (webhook bypassed or down). */
  mode: 'stamp' | 'bypass';
  /** Stamped as the commit on every template change; unset keeps what the object carries. */
  commit?: string;
  /** Stamped as the approver on every template change; unset keeps what the object carries. */
  approver?: string;
  /** Tenant per namespace (default: the namespace's name). */
  tenants: Record<string, string>;
}

/** One release revision as stored: the decoded record and every label of its Secret. */
export interface StoredRevision {
  secretName: string;
  version: number;
  status: string;
  description: string;
  manifest: string;
  release: HelmRelease;
  /** All labels of the Secret (system and custom). */
  labels: Record<string, string>;
}

/** Captured log lines of one recorder. */
export interface LogCapture {
  lines: string[];
  records(): Any[];
}

/** A recorder replica started by the harness. */
export interface HarnessRecorder {
  running: RunningRecorder;
  identity: string;
  /** The kubeconfig user this replica authenticates as (so its requests are attributable). */
  user: string;
  logs: LogCapture;
  processed: ProcessedEvent[];
  /** Waits until the Deployment's current stored state was processed to a final decision: a plan other than `wait`, or an error. */
  settled(namespace: string, name: string): Promise<ProcessedEvent>;
  /** Sum of a metric's samples from `/metrics` (0 when absent). */
  metric(name: string): Promise<number>;
  stop(opts?: { crash?: boolean }): Promise<void>;
}

/** Options of {@link RecorderHarness.startRecorder}. */
export interface StartOptions {
  namespaces: string[];
  identity?: string;
  user?: string;
  historyMax?: number;
  /** Lease name; give replicas that should compete the same one (default: per namespace set). */
  leaseName?: string;
  leaseDurationMs?: number;
  renewIntervalMs?: number;
  retry?: RetryOptions;
  /** Certificate rotation (--rotate-certs), with the test's clock and step hook if any. */
  certs?: RecorderRunConfig['certs'];
}

/** Exit code and output of one in-process `tracegate` run. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A test API server with the gate stand-in, the real tools, and recorders and CLI runs against it. */
export interface RecorderHarness {
  server: TestApiServer;
  tools: RealTools;
  dir: string;
  /** Kubeconfig of the cluster admin (system:masters). */
  admin: string;
  gate: GateStamping;
  /** Every Deployment write the admission hook saw, in order. */
  admissions: AdmissionHookRequest[];
  /** Sent to in-process `tracegate record` runs: emit SIGTERM to stop them. */
  signals: EventEmitter;
  namespace(name: string, tenant?: string): void;
  kubeconfig(user: string, groups?: string[]): Promise<string>;
  /** Runs a tool as `user` (default admin). */
  run(bin: string, args: string[], opts?: { kubeconfig?: string }): Promise<ToolResult>;
  /** Runs a tool and fails the test with its output unless it exits 0. */
  ok(bin: string, args: string[], opts?: { kubeconfig?: string }): Promise<ToolResult>;
  deployment(namespace: string, name: string): Any;
  /** The release's revisions as stored, by version. */
  revisions(namespace: string, release: string): StoredRevision[];
  /** Starts a recorder and waits until it leads. */
  startRecorder(opts: StartOptions): Promise<HarnessRecorder>;
  /** Starts a replica without waiting for the Lease (it may be a follower). */
  startReplica(opts: StartOptions): Promise<HarnessRecorder>;
  /** Runs `tracegate ARGV…` in-process with KUBECONFIG set to `kubeconfig` (default admin). */
  cli(argv: string[], opts?: { kubeconfig?: string }): Promise<CliResult>;
  waitFor(what: string, check: () => boolean | Promise<boolean>): Promise<void>;
  close(): Promise<void>;
}

/** The container image of a stored or live Deployment (first container). */
export function imageOf(obj: Any): string {
  return obj['spec']['template']['spec']['containers'][0]['image'];
}

/** The Deployment `name` of a release manifest, parsed (fails the test when absent). */
export function manifestDeployment(manifest: string, name: string): Any {
  const part = findWorkloadDoc(splitManifest(manifest), 'Deployment', name);
  assert.ok(part, `the manifest has Deployment ${name}`);
  return part.doc.toJS() as Any;
}

/** True when the live Deployment runs the manifest's pod template (apiserver defaults aside). */
export function runsManifest(live: Any, manifest: string): boolean {
  const doc = manifestDeployment(manifest, String(live['metadata']['name']));
  return templateChange(doc['spec']['template'], live['spec']['template']).changes.length === 0;
}

function parseMetric(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (m && m[1] === name) sum += Number(m[3]);
  }
  return sum;
}

/** Starts the API server (with `serverOptions`, e.g. `{ authorization: 'rbac' }`) with the gate stand-in and extracts the real tools. */
export async function createRecorderHarness(serverOptions: TestApiServerOptions = {}): Promise<RecorderHarness> {
  const tools = await ensureRealTools();
  const server = await startTestApiServer(serverOptions);
  const dir = await mkdtemp(join(tmpdir(), 'tracegate-recorder-test-'));
  const kubeconfigs = new Map<string, Promise<string>>();
  const kubeconfig = (user: string, groups?: string[]): Promise<string> => {
    const key = JSON.stringify([user, groups ?? null]);
    let path = kubeconfigs.get(key);
    if (!path) {
      path = mkdtemp(join(dir, 'kube-')).then((d) => server.kubeconfig(d, user === 'admin' ? {} : { user, groups: groups ?? [] }));
      kubeconfigs.set(key, path);
    }
    return path;
  };
  const admin = await kubeconfig('admin');
  const gate: GateStamping = { mode: 'stamp', tenants: {} };
  const admissions: AdmissionHookRequest[] = [];
  const recorders: HarnessRecorder[] = [];
  const signals = new EventEmitter();
  const keys = tracegateKeys(PREFIX);
  server.store.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: LEASE_NAMESPACE } });
  // The install's CRD (ChangeTrail): the recorder appends every change to a trail.
  server.store.put(parse(await readFile(fileURLToPath(new URL('../../manifests/crds/changetrail.yaml', import.meta.url)), 'utf8')) as Any);

  // The gate's mutating webhook, reduced to what the recorder reads: on every template change a fresh
  // change id bound to the template's hash, who changed it with which field manager, tenant, commit, approver.
  server.setAdmission(async (req) => {
    admissions.push(req);
    const obj = req.object as KubeObject | null;
    if (gate.mode === 'bypass' || req.operation === 'DELETE' || req.subResource || req.kind.kind !== 'Deployment' || !obj) {
      return { allowed: true, object: req.object };
    }
    const template = podTemplateOf(obj);
    const old = req.oldObject as KubeObject | null;
    if (old && !templateChanged(podTemplateOf(old), template)) return { allowed: true, object: obj };
    obj.metadata ??= {};
    const a = (obj.metadata.annotations ??= {});
    if (gate.commit) a[keys.commit] = gate.commit;
    if (gate.approver) a[keys.approver] = gate.approver;
    // Signed as the gate signs (bound to no uid on CREATE, as the mutating stage sees none), with the
    // commit and approver the request carries (the stand-in does not judge freshness).
    const commit = a[keys.commit];
    const approver = a[keys.approver];
    stampAsGate(
      obj,
      {
        tenant: gate.tenants[req.namespace] ?? req.namespace,
        changedBy: req.userInfo.username,
        ...(req.options?.fieldManager ? { fieldManager: req.options.fieldManager } : {}),
        ...(commit ? { commit } : {}),
        ...(approver ? { approver } : {}),
      },
      { atCreate: req.operation === 'CREATE' },
    );
    return { allowed: true, object: obj };
  });

  async function waitFor(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
    const deadline = Date.now() + WAIT_LIMIT_MS;
    while (!(await check())) {
      if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  }

  async function run(bin: string, args: string[], opts: { kubeconfig?: string } = {}): Promise<ToolResult> {
    return runTool(bin, args, { env: { KUBECONFIG: opts.kubeconfig ?? admin } });
  }

  async function ok(bin: string, args: string[], opts: { kubeconfig?: string } = {}): Promise<ToolResult> {
    const res = await run(bin, args, opts);
    assert.equal(res.code, 0, `${args.join(' ')} failed:\n${res.stdout}${res.stderr}`);
    return res;
  }

  function deployment(namespace: string, name: string): Any {
    const obj = server.store.get('deployments', namespace, name);
    assert.ok(obj, `deployment ${namespace}/${name} is stored`);
    return obj as Any;
  }

  function revisions(namespace: string, release: string): StoredRevision[] {
    return server.store
      .list('secrets', namespace)
      .filter((s) => (s['metadata'] as Any)['labels']?.['owner'] === 'helm' && (s['metadata'] as Any)['labels']?.['name'] === release)
      .map((s) => {
        const decoded = fromSecret(s as Any);
        assert.ok(decoded.ok, decoded.ok ? '' : decoded.error);
        const rel = decoded.value.release;
        return {
          secretName: String((s['metadata'] as Any)['name']),
          version: rel.version,
          status: rel.info.status ?? '',
          description: rel.info.description ?? '',
          manifest: rel.manifest ?? '',
          release: rel,
          labels: { ...((s['metadata'] as Any)['labels'] as Record<string, string>) },
        };
      })
      .sort((a, b) => a.version - b.version);
  }

  async function startOne(opts: StartOptions): Promise<HarnessRecorder> {
    const identity = opts.identity ?? `recorder-${opts.namespaces.join('-')}`;
    const user = opts.user ?? `system:serviceaccount:tracegate:${identity}`;
    const kc = new KubeConfig();
    kc.loadFromFile(await kubeconfig(user));
    const lines: string[] = [];
    const echo = process.env['TRACEGATE_TEST_LOGS'] === '1';
    const log = createLogger({
      level: 'debug',
      name: identity,
      destination: { write: (s: string) => void (lines.push(s), echo && process.stderr.write(s)) },
    });
    const processed: ProcessedEvent[] = [];
    const running = await startRecorder({
      kubeConfig: kc,
      log,
      keyring: TEST_KEYRING,
      onProcessed: (e) => void processed.push(e),
      config: {
        namespaces: opts.namespaces,
        prefix: PREFIX,
        historyMax: opts.historyMax ?? 10,
        metricsPort: 0,
        metricsHost: '127.0.0.1',
        retry: opts.retry ?? TEST_RETRY,
        pendingRetryMs: TEST_PENDING_RETRY_MS,
        ...(opts.certs ? { certs: opts.certs } : {}),
        lease: {
          namespace: LEASE_NAMESPACE,
          name: opts.leaseName ?? `recorder-${opts.namespaces.join('-')}`,
          identity,
          leaseDurationMs: opts.leaseDurationMs ?? TEST_LEASE_MS,
          renewIntervalMs: opts.renewIntervalMs ?? TEST_RENEW_MS,
        },
      },
    });
    let stopped = false;
    const rec: HarnessRecorder = {
      running,
      identity,
      user,
      logs: { lines, records: () => lines.map((l) => JSON.parse(l) as Any) },
      processed,
      async settled(namespace, name) {
        const rv = Number(deployment(namespace, name)['metadata']['resourceVersion']);
        let found: ProcessedEvent | undefined;
        await waitFor(`${identity} to process ${namespace}/${name} at resourceVersion ${rv}`, () => {
          found = processed.find((e) => e.key === `Deployment/${namespace}/${name}` && Number(e.resourceVersion) >= rv && e.plan?.action !== 'wait');
          return found !== undefined;
        });
        return found!;
      },
      async metric(name) {
        const res = await fetch(`http://127.0.0.1:${running.port}/metrics`);
        return parseMetric(await res.text(), name);
      },
      async stop(stopOpts) {
        if (stopped) return;
        stopped = true;
        await running.stop(stopOpts);
      },
    };
    recorders.push(rec);
    return rec;
  }

  return {
    server,
    tools,
    dir,
    admin,
    gate,
    admissions,
    signals,
    namespace(name, tenant) {
      server.store.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
      if (tenant) gate.tenants[name] = tenant;
    },
    kubeconfig,
    run,
    ok,
    deployment,
    revisions,
    startReplica: startOne,
    async startRecorder(opts) {
      const rec = await startOne(opts);
      await waitFor(`${rec.identity} to lead`, () => rec.running.isLeader());
      return rec;
    },
    async cli(argv, opts = {}) {
      let stdout = '';
      let stderr = '';
      const io: CliIo = {
        stdout: (t) => void (stdout += t),
        stderr: (t) => void (stderr += t),
        readStdin: async () => '',
        env: { KUBECONFIG: opts.kubeconfig ?? admin },
        cwd: dir,
      };
      const cli = createCli({
        record: (args, cliIo) => runRecordCommand(args, cliIo, signals),
        history: runHistoryCommand,
        rollback: runRollbackCommand,
      });
      const code = await cli(argv, io);
      return { code, stdout, stderr };
    },
    waitFor,
    async close() {
      await Promise.all(recorders.map((r) => r.stop()));
      await server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
