/**
 * A whole tracegate cluster in one process, for the end-to-end stories and `npm run demo`: the test API
 * server, the real gate serving the certificate from `tracegate certs --kustomize`, the webhook
 * configurations of that overlay as rendered by the real kubectl, the admission chain dispatching to
 * the gate exactly as they say, and the recorder watching every namespace. Users run the real kubectl
 * and helm binaries with their own identities. No node:assert here: the demo uses it too.
 */
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { parse, parseAllDocuments } from 'yaml';
import { createCli } from '../../src/cli/main.js';
import { runHistoryCommand } from '../../src/cli/history.js';
import type { CliIo } from '../../src/cli/io.js';
import { runRollbackCommand } from '../../src/cli/rollback.js';
import { buildConfig } from '../../src/config.js';
import { createLogger } from '../../src/log.js';
import { createMetrics } from '../../src/metrics.js';
import { bundledPoliciesDir, packageRoot } from '../../src/paths.js';
import type { ProcessedEvent } from '../../src/recorder/controller.js';
import { startRecorder, type RunningRecorder } from '../../src/recorder/run.js';
import { startAuditPolicies } from '../../src/recorder/audit-policies.js';
import { toTracegatePolicy } from '../../src/policy/tracegate-policy.js';
import type { PolicyDocument } from '../../src/policy/types.js';
import { Registry } from 'prom-client';
import { loadKeyring, newKeyText } from '../../src/provenance/keys.js';
import { startGate, type RunningGate } from '../../src/server/gate.js';
import { createAdmissionChain, followStoredAdmission, loadAdmissionPolicies, loadWebhookConfigs } from './admission-chain/index.js';
import type { AdmissionChain, WebhookConfigs } from './admission-chain/index.js';
import { startTestApiServer, type TestApiServer } from './api-server/index.js';
import { createKubectlLocal } from './kubectl-local.js';
import { ensureRealTools, runTool, type RealTools, type ToolResult } from './tools.js';

/** Parsed JSON as stories read it. */
export type Any = Record<string, any>;

/** tracegate's own namespace: the gate's Service and the recorder's Lease live here. */
export const TRACEGATE_NAMESPACE = 'tracegate';

/** The gate's Service as the webhook configurations name it (`namespace/name:port`). */
const GATE_SERVICE = `${TRACEGATE_NAMESPACE}/tracegate:443`;

/** Only bounds a hang; a passing story never gets near it (2 cores, several test files at once). */
const WAIT_LIMIT_MS = 60_000;
// Short against a tool run (~100 ms), so polling adds little to a step.
const POLL_MS = 20;
// A crashed recorder would be replaced in seconds; irrelevant to the stories, but keeps renewals cheap.
const LEASE_MS = 5_000;
const RENEW_MS = 1_000;
// Helm's operations take a fraction of a second here: look again at a pending release soon.
const PENDING_RETRY_MS = 100;
// Fast API retries: nothing here fails on purpose, and a story should not wait out production backoff.
const API_RETRY = { attempts: 4, baseDelayMs: 20, maxDelayMs: 200 };
// `tracegate record --history-max` and Helm's own default.
const DEFAULT_HISTORY_MAX = 10;
// The gate writes its deletion note just after answering: a few looks, PENDING_RETRY_MS apart, find it.
const DELETION_NOTE_ATTEMPTS = 20;

/** A namespace to create, with the tenant label the gate reads. */
export interface NamespaceSpec {
  name: string;
  tenant?: string;
}

/** Options of {@link startStoryCluster}. */
export interface StoryClusterOptions {
  namespaces: NamespaceSpec[];
  /** Policy files or directories instead of the bundled `policies/`. */
  policies?: string[];
  /** Policy files or directories loaded with those. */
  extraPolicies?: string[];
  /** Start the recorder (default true). */
  recorder?: boolean;
  /** The recorder's `--history-max` (default 10, like Helm; 0 keeps every revision). */
  historyMax?: number;
  /** Controllers create Pods (through admission, as kube-system controllers): the sandbox wants them. */
  pods?: boolean;
  /**
   * Admission follows the API server's store (`followStoredAdmission`, as the apiserver's dynamic
   * admission): the overlay's webhook configurations and policy are stored as `kubectl apply -k` stores
   * them, writes of those objects change admission (a patched caBundle is used for the next call), and
   * `useConfigs` stores the configurations it is given. Default: a chain of the overlay's, fixed.
   */
  admissionFromStore?: boolean;
  /** The gate's `--approval-keys` (a JWKS file or a directory of `<tenant>.jwks.json`). */
  approvalKeys?: string;
  /** The gate's `--ci-issuers` file. */
  ciIssuers?: string;
  /**
   * Where the gate takes its policies: the files (default), or `cluster` — TracegatePolicy objects made
   * from those files and stored as the chart installs them, followed live (a `kubectl apply` of a policy
   * takes effect without a restart).
   */
  policySource?: 'files' | 'cluster';
  /** The recorder's background audit, a pass every `intervalMs`, from the gate's policy source (PolicyReport CRDs installed). */
  audit?: { intervalMs: number };
}

/** Who runs a command: a username and its groups (`admin` is system:masters). */
export interface As {
  user?: string;
  groups?: string[];
}

/** Exit code and output of one in-process `tracegate` run. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The running cluster. */
export interface StoryCluster {
  tools: RealTools;
  server: TestApiServer;
  /** The webhook configurations of the `tracegate certs --kustomize` overlay. */
  configs: WebhookConfigs;
  /** The chain currently plugged into the API server. */
  readonly chain: AdmissionChain;
  readonly gate: RunningGate;
  readonly recorder: RunningRecorder | undefined;
  /** The apiserver's admission log lines (`Failed calling webhook, failing open …`). */
  chainLog: string[];
  dir: string;
  kubeconfig(as?: As): Promise<string>;
  kubectl(args: string[], opts?: As & { input?: string }): Promise<ToolResult>;
  /** helm v4, or v3 with `helm3: true`. */
  helm(args: string[], opts?: As & { helm3?: boolean }): Promise<ToolResult>;
  /** `tracegate ARGV…` in-process (history, rollback, certs, check, policies). */
  tracegate(args: string[], opts?: As): Promise<CliResult>;
  deployment(namespace: string, name: string): Any | undefined;
  /** Replaces the webhook configurations the chain dispatches by (e.g. a copy with another failurePolicy). */
  useConfigs(configs: WebhookConfigs): void;
  /** Stops the gate (the Service has no endpoints afterwards: connections are refused). */
  stopGate(): Promise<void>;
  /** Starts a fresh gate behind the same Service. */
  startGate(): Promise<void>;
  /** Resolves once the recorder has made a final decision on the workload's current state (default: a Deployment). */
  recorded(namespace: string, name: string, kind?: string): Promise<ProcessedEvent>;
  /** The workload of `kind` (plural, as in URLs) as stored. */
  object(resource: string, namespace: string, name: string): Any | undefined;
  /** The provenance keys the gate and the recorder share. */
  keyDir: string;
  /** Polls `check` until it holds; fails after a generous hang guard. */
  waitFor(what: string, check: () => boolean | Promise<boolean>): Promise<void>;
  close(): Promise<void>;
}

/** The namespace objects to create, carrying the tenant label when given. */
function namespaceObject(ns: NamespaceSpec): Any {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns.name, ...(ns.tenant ? { labels: { 'tracegate.io/tenant': ns.tenant } } : {}) } };
}

/** Starts everything; call `close()` when done (it removes every temp file). */
export async function startStoryCluster(opts: StoryClusterOptions): Promise<StoryCluster> {
  const tools = await ensureRealTools();
  const dir = await mkdtemp(join(tmpdir(), 'tracegate-story-'));
  const closers: (() => Promise<void> | void)[] = [() => rm(dir, { recursive: true, force: true })];
  let closed = false;
  // Last started, first stopped: the recorder before the API server it watches, the temp dir last.
  const close = async () => {
    if (closed) return;
    closed = true;
    for (const c of [...closers].reverse()) await c();
  };
  try {
    return await assemble(tools, dir, opts, closers, close);
  } catch (err) {
    await close();
    throw err;
  }
}

async function assemble(tools: RealTools, dir: string, opts: StoryClusterOptions, closers: (() => Promise<void> | void)[], close: () => Promise<void>): Promise<StoryCluster> {
  // The install as an operator makes it: certificates and an overlay that adds the caBundle.
  const overlayDir = join(dir, 'install');
  const certs = await inProcessCli(['certs', '--out', overlayDir, '--kustomize'], {}, packageRoot);
  if (certs.code !== 0) throw new Error(`tracegate certs failed: ${certs.stderr}`);
  const rendered = await createKubectlLocal(tools).kustomize(overlayDir);
  const configs = loadWebhookConfigs(rendered);
  // The install's ValidatingAdmissionPolicy (break-glass), evaluated by the "apiserver" with no webhook.
  const admissionPolicies = loadAdmissionPolicies(rendered);

  const server = await startTestApiServer(opts.pods ? { pods: true } : {});
  closers.push(() => server.close());
  // The install's CRD (ChangeTrail), as `kubectl apply -k` of the overlay creates it first.
  server.store.put(parse(await readFile(join(packageRoot, 'manifests', 'crds', 'changetrail.yaml'), 'utf8')) as Any);
  for (const ns of [...opts.namespaces, { name: TRACEGATE_NAMESPACE }]) server.store.put(namespaceObject(ns));

  const kubeconfigs = new Map<string, Promise<string>>();
  const kubeconfig = (as: As = {}): Promise<string> => {
    const user = as.user ?? 'admin';
    const key = JSON.stringify([user, as.groups ?? []]);
    let path = kubeconfigs.get(key);
    if (!path) {
      path = mkdtemp(join(dir, 'user-')).then((d) => server.kubeconfig(d, user === 'admin' ? {} : { user, groups: as.groups ?? [] }));
      kubeconfigs.set(key, path);
    }
    return path;
  };

  const gateKubeconfig = await kubeconfig({ user: 'system:serviceaccount:tracegate:tracegate' });
  // One key for the gate and the recorder, as the install's Secret gives both.
  const keyDir = join(dir, 'provenance-keys');
  await mkdir(keyDir, { mode: 0o700 });
  await writeFile(join(keyDir, 'k1.key'), newKeyText(), { mode: 0o600 });
  const keyring = await loadKeyring(keyDir);
  const policies = [...(opts.policies ?? [bundledPoliciesDir]), ...(opts.extraPolicies ?? [])];
  const policySource = opts.policySource ?? 'files';
  if (policySource === 'cluster') await storePolicyObjects(server, policies);
  if (opts.audit) await storeCrds(server, 'wgpolicyk8s-policyreports.yaml');
  const gateConfig = buildConfig({}, {
    port: 0,
    host: '127.0.0.1',
    tlsCertFile: join(overlayDir, 'tls.crt'),
    tlsKeyFile: join(overlayDir, 'tls.key'),
    tlsCaFile: join(overlayDir, 'ca.crt'),
    // Tenants from the namespaces' labels through the gate's own informer, as in a cluster.
    tenancy: 'cluster',
    kubeconfig: gateKubeconfig,
    ...(policySource === 'cluster' ? { policySource, policies: [] } : { policies }),
    shutdownDelayMs: 0,
    provenanceKeyDir: keyDir,
    ...(opts.approvalKeys ? { approvalKeys: opts.approvalKeys } : {}),
    ...(opts.ciIssuers ? { ciIssuers: opts.ciIssuers } : {}),
  });
  const services = new Map<string, { host: string; port: number }>();
  let gate: RunningGate | undefined;
  let gateUp = false;
  const launchGate = async () => {
    gate = await startGate({ config: gateConfig, log: createLogger({ level: process.env.TG_DEBUG_LOG ?? 'silent' }), env: {}, cwd: packageRoot, metrics: createMetrics({ defaults: false }) });
    gateUp = true;
    services.set(GATE_SERVICE, { host: '127.0.0.1', port: gate.port });
  };
  const stopGate = async () => {
    if (!gate || !gateUp) return;
    gateUp = false;
    await gate.shutdown('stopped by the story', { delayMs: 0 });
  };
  await launchGate();
  closers.push(stopGate);

  const chainLog: string[] = [];
  const chainOptions = {
    resolveService: (namespace, name, port) => {
      const target = services.get(`${namespace}/${name}:${port}`);
      if (!target) throw new Error(`service "${name}" not found`);
      return target;
    },
    namespaceLabels: (ns) => {
      const obj = server.store.get('namespaces', '', ns) as Any | undefined;
      return obj === undefined ? undefined : (obj['metadata']['labels'] ?? {});
    },
    namespaceObject: (ns) => server.store.get('namespaces', '', ns) as Any | undefined,
    log: (line: string) => void chainLog.push(line),
  } satisfies Partial<Parameters<typeof createAdmissionChain>[0]>;
  const newChain = (c: WebhookConfigs) => createAdmissionChain({ ...c, ...admissionPolicies, ...chainOptions });
  const storeConfigs = (c: WebhookConfigs) => {
    for (const config of [...c.mutating, ...c.validating]) server.store.put({ apiVersion: 'admissionregistration.k8s.io/v1', ...structuredClone(config) } as Any);
  };
  let chain: AdmissionChain;
  if (opts.admissionFromStore) {
    // What `kubectl apply -k` of the overlay stores: the webhook configurations and the admission policy.
    for (const doc of parseAllDocuments(rendered)) {
      const obj = doc.toJS() as Any | null;
      if (obj?.['apiVersion'] === 'admissionregistration.k8s.io/v1') server.store.put(obj);
    }
    chain = followStoredAdmission({ server, ...chainOptions });
  } else {
    chain = newChain(configs);
    server.setAdmission(chain.hook);
  }
  closers.push(() => chain.close());

  const processed: ProcessedEvent[] = [];
  let recorder: RunningRecorder | undefined;
  if (opts.recorder !== false) {
    const kc = new KubeConfig();
    const recorderKubeconfig = await kubeconfig({ user: 'system:serviceaccount:tracegate:tracegate-recorder' });
    kc.loadFromFile(recorderKubeconfig);
    const registry = new Registry();
    // As `tracegate record --policy-source`: the audit judges by what the gate enforces, followed live.
    const auditPolicies = opts.audit
      ? await startAuditPolicies({
          config: { policySource, policies, kubeconfig: recorderKubeconfig, annotationPrefix: 'tracegate.io/' },
          log: createLogger({ level: process.env.TG_DEBUG_LOG ?? 'silent' }),
          registry,
          env: {},
          cwd: packageRoot,
          onChange: (set) => recorder?.auditor?.setPolicies(set),
        })
      : undefined;
    if (auditPolicies) closers.push(() => auditPolicies.stop());
    recorder = await startRecorder({
      registry,
      kubeConfig: kc,
      keyring,
      log: createLogger({ level: process.env.TG_DEBUG_LOG ?? 'silent' }),
      onProcessed: (e) => void processed.push(e),
      config: {
        namespaces: [],
        prefix: 'tracegate.io/',
        historyMax: opts.historyMax ?? DEFAULT_HISTORY_MAX,
        metricsPort: 0,
        metricsHost: '127.0.0.1',
        retry: API_RETRY,
        pendingRetryMs: PENDING_RETRY_MS,
        deletionNoteAttempts: DELETION_NOTE_ATTEMPTS,
        lease: { namespace: TRACEGATE_NAMESPACE, name: 'tracegate-recorder', identity: 'tracegate-recorder-0', leaseDurationMs: LEASE_MS, renewIntervalMs: RENEW_MS },
        ...(auditPolicies && opts.audit ? { audit: { policies: auditPolicies.current(), intervalMs: opts.audit.intervalMs, tenancy: { tenantLabel: 'tracegate.io/tenant' } } } : {}),
      },
    });
    const running = recorder;
    closers.push(() => running.stop());
  }

  async function waitFor(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
    const deadline = Date.now() + WAIT_LIMIT_MS;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  }
  await waitFor('the gate to be ready (namespace cache synced)', () => gate!.ready());
  if (recorder) await waitFor('the recorder to lead', () => recorder!.isLeader());

  const deployment = (namespace: string, name: string) => server.store.get('deployments', namespace, name) as Any | undefined;

  return {
    tools,
    server,
    configs,
    get chain() {
      return chain;
    },
    get gate() {
      return gate!;
    },
    recorder,
    chainLog,
    dir,
    kubeconfig,
    async kubectl(args, o = {}) {
      return runTool(tools.kubectl, args, { env: { KUBECONFIG: await kubeconfig(o) }, ...(o.input === undefined ? {} : { input: o.input }) });
    },
    async helm(args, o = {}) {
      return runTool(o.helm3 ? tools.helm3 : tools.helm, args, { env: { KUBECONFIG: await kubeconfig(o) } });
    },
    async tracegate(args, o = {}) {
      return inProcessCli(args, { KUBECONFIG: await kubeconfig(o) }, dir);
    },
    deployment,
    useConfigs(c) {
      if (opts.admissionFromStore) return storeConfigs(c);
      chain.close();
      chain = newChain(c);
      server.setAdmission(chain.hook);
    },
    stopGate,
    async startGate() {
      if (gateUp) return;
      await launchGate();
      await waitFor('the restarted gate to be ready', () => gate!.ready());
    },
    keyDir,
    object: (resource, namespace, name) => server.store.get(resource, namespace, name) as Any | undefined,
    async recorded(namespace, name, kind = 'Deployment') {
      const obj = server.store.get(kind, namespace, name) as Any | undefined;
      if (!obj) throw new Error(`${kind} ${namespace}/${name} does not exist`);
      const rv = Number(obj['metadata']['resourceVersion']);
      let found: ProcessedEvent | undefined;
      await waitFor(`the recorder to process ${kind} ${namespace}/${name} at resourceVersion ${rv}`, () => {
        found = processed.find((e) => e.key === `${kind}/${namespace}/${name}` && Number(e.resourceVersion) >= rv && e.plan?.action !== 'wait');
        return found !== undefined;
      });
      return found!;
    },
    waitFor,
    close,
  };
}

/** Stores the CRDs of `manifests/crds/<file>`, as `kubectl apply -f` of them creates them. */
async function storeCrds(server: TestApiServer, file: string): Promise<void> {
  for (const doc of parseAllDocuments(await readFile(join(packageRoot, 'manifests', 'crds', file), 'utf8'))) server.store.put(doc.toJS() as Any);
}

/** The TracegatePolicy CRD and one object per policy document of `paths`, as the chart installs the bundled policies. */
async function storePolicyObjects(server: TestApiServer, paths: readonly string[]): Promise<void> {
  await storeCrds(server, 'tracegatepolicy.yaml');
  for (const path of paths) {
    const files = (await stat(path)).isDirectory() ? (await readdir(path)).filter((f) => /\.ya?ml$/.test(f)).map((f) => join(path, f)) : [path];
    for (const file of files) {
      for (const doc of parseAllDocuments(await readFile(file, 'utf8'))) {
        const policy = doc.toJS() as PolicyDocument | null;
        if (policy?.kind !== 'Policy') continue;
        const obj = toTracegatePolicy(policy) as Any;
        // Helm's ownership marks of a release `tracegate` in namespace tracegate: `helm install tracegate
        // charts/tracegate -n tracegate` adopts them (Helm ≥ 3.2) instead of refusing objects it did not make.
        obj['metadata'] = { ...obj['metadata'], labels: { 'app.kubernetes.io/managed-by': 'Helm' }, annotations: { 'meta.helm.sh/release-name': 'tracegate', 'meta.helm.sh/release-namespace': TRACEGATE_NAMESPACE } };
        server.store.put(obj);
      }
    }
  }
}

/** Runs `tracegate ARGV…` in-process with the commands the binary has (serve and record aside). */
async function inProcessCli(argv: string[], env: Record<string, string>, cwd: string): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t), readStdin: async () => '', env, cwd };
  const code = await createCli({ history: runHistoryCommand, rollback: runRollbackCommand })(argv, io);
  return { code, stdout, stderr };
}
