/**
 * The two servers under test, each in a child process of its own: the gate exactly as the container
 * runs it (`node bin/tracegate.js serve` on the compiled build, tenancy from a namespace informer,
 * provenance keys from a mounted-Secret-like directory, info-level JSON logs on stdout) and the
 * baselines, all with the install manifest's environment.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { createServer } from 'node:net';
import type { CertPaths } from '../src/certs/index.js';
import { waitReady } from './https-client.js';
import type { ProductionLayout } from './prod-build.js';

/** The servers compared: the gate, the bare baseline, and the baseline doing the gate's policy work. */
export type ServerName = 'gate' | 'baseline' | 'baseline+policies';

/** A running server process. */
export interface ServerProcess {
  name: ServerName;
  pid: number;
  port: number;
  /** Last part of the child's stderr, for error reports. */
  stderr(): string;
  /** SIGINT (the gate drains with no delay) and wait for the exit code. */
  stop(): Promise<number | null>;
}

// Enough of stderr to show a stack trace when a server dies.
const STDERR_KEEP_CHARS = 8_000;
// Start-up includes the informer's first list: allow for a slow, busy machine.
const START_TIMEOUT_MS = 60_000;

function track(child: ChildProcess) {
  let err = '';
  child.stderr?.on('data', (c: Buffer) => {
    err = (err + c.toString('utf8')).slice(-STDERR_KEEP_CHARS);
  });
  let alive = true;
  const exited = new Promise<number | null>((r) =>
    child.once('exit', (code) => {
      alive = false;
      r(code);
    }),
  );
  return {
    stderr: () => err,
    alive: () => alive,
    stop: async () => {
      if (alive) child.kill('SIGINT');
      return exited;
    },
  };
}

/** A port nobody listens on right now (the gate takes a port number, not 0, on its command line). */
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

/** The caller's environment without anything that would change what is measured, plus the manifest's. */
function serverEnv(layout: ProductionLayout): NodeJS.ProcessEnv {
  const own = Object.entries(process.env).filter(([k]) => !k.startsWith('TRACEGATE_') && k !== 'NODE_OPTIONS' && !k.startsWith('KUBERNETES_'));
  return { ...Object.fromEntries(own), ...layout.env };
}

/** Options of {@link startGateProcess}. */
export interface GateProcessOptions {
  layout: ProductionLayout;
  certs: CertPaths;
  caPem: string;
  /** kubeconfig of the API server the namespace informer lists and watches. */
  kubeconfig: string;
  /** Where the gate's stdout (its log) goes: `/dev/null` or a file. */
  logFile: string;
  /** `--provenance-keys`: the key directory the benchmark's reviews were stamped with. */
  provenanceKeys: string;
  /** Write a V8 CPU profile of the gate into this directory when it exits. */
  cpuProfDir?: string;
}

/** Starts `node bin/tracegate.js serve` with the bundled policies and waits for /readyz (informer synced). */
export async function startGateProcess(opts: GateProcessOptions): Promise<ServerProcess> {
  const port = await freePort();
  const log = openSync(opts.logFile, 'a');
  const args = [
    ...(opts.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${opts.cpuProfDir}`] : []),
    opts.layout.bin,
    'serve',
    '--port', String(port),
    '--host', '127.0.0.1',
    '--tls-cert', opts.certs.tlsCert,
    '--tls-key', opts.certs.tlsKey,
    '--tls-ca', opts.certs.caCert,
    '--tenancy', 'cluster',
    '--kubeconfig', opts.kubeconfig,
    '--provenance-keys', opts.provenanceKeys,
    '--log-level', 'info',
  ];
  const child = spawn(process.execPath, args, { cwd: opts.layout.root, env: serverEnv(opts.layout), stdio: ['ignore', log, 'pipe'] });
  closeSync(log);
  const t = track(child);
  try {
    await waitReady(port, opts.caPem, '/readyz', t.alive, START_TIMEOUT_MS);
  } catch (err) {
    await t.stop();
    throw new Error(`${(err as Error).message}\n${t.stderr()}`);
  }
  return { name: 'gate', pid: child.pid!, port, stderr: t.stderr, stop: t.stop };
}

/** What the baseline+policies server reads besides the certificate: tenants and provenance keys. */
export interface PolicyServerInputs {
  namespacesFile: string;
  provenanceKeys: string;
}

/**
 * Starts the baseline (or, with `policies`, the baseline+policies server) with the same certificate and
 * environment, and waits until it answers.
 */
export async function startBaselineProcess(opts: { layout: ProductionLayout; certs: CertPaths; caPem: string; policies?: PolicyServerInputs; cpuProfDir?: string }): Promise<ServerProcess> {
  const name: ServerName = opts.policies ? 'baseline+policies' : 'baseline';
  const module = opts.policies ? opts.layout.policyServer : opts.layout.baseline;
  const child = fork(module, [opts.certs.tlsCert, opts.certs.tlsKey, ...(opts.policies ? [opts.policies.namespacesFile, opts.policies.provenanceKeys] : [])], {
    cwd: opts.layout.root,
    env: serverEnv(opts.layout),
    execArgv: opts.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${opts.cpuProfDir}`] : [],
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  const t = track(child);
  const port = await new Promise<number>((ok, fail) => {
    child.once('message', (m) => ok((m as { port: number }).port));
    child.once('exit', () => fail(new Error(`${name} server exited before listening\n${t.stderr()}`)));
  });
  await waitReady(port, opts.caPem, '/readyz', t.alive, START_TIMEOUT_MS);
  return { name, pid: child.pid!, port, stderr: t.stderr, stop: t.stop };
}
