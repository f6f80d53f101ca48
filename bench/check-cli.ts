/**
 * `tracegate check` over many documents: real CLI runs, timed from outside, startup included and shown
 * apart, with the process's CPU time and peak RSS; and the same input through the whole-text parse it
 * replaced (bench/check-baseline.ts), in the same run, with its output compared byte for byte.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { stringify } from 'yaml';
import type { KubeObject } from '../src/k8s/types.js';

/** Outcome of one timed `check` run. */
export interface CheckCliResult {
  documents: number;
  inputBytes: number;
  exitCode: number | null;
  outputBytes: number;
  wallSeconds: number;
  /** `tracegate version`: process start, tsx and module loading, no work. */
  startupSeconds: number;
  docsPerSecond: number;
  docsPerSecondAfterStartup: number;
  /** Peak RSS of the `check` process (getrusage maxRSS), the highest of the runs. */
  peakRssBytes: number;
  /** User + system CPU of the fastest `check` run, all threads (parsing, GC): steadier than wall time on a shared machine. */
  cpuSeconds: number;
  /** Peak RSS of `tracegate version`: what loading the CLI alone costs. */
  startupPeakRssBytes: number;
  /** Runs of `check` made; the fastest is the one reported. */
  runs: number;
  stderr: string;
  /** The whole-text parse (bench/check-baseline.ts) on the same input, timed the same way. */
  baseline: { exitCode: number | null; wallSeconds: number; docsPerSecond: number; docsPerSecondAfterStartup: number; cpuSeconds: number; peakRssBytes: number };
  /** The CLI's text report and exit code equal the baseline's, byte for byte. */
  sameOutput: boolean;
}

/**
 * Preloaded into the child: writes its own peak RSS (getrusage, KiB) and CPU time (µs) to fd 3 on exit.
 * Measured from inside because the peak can come in the last milliseconds (rendering the report), which
 * polling /proc from outside would miss; the CLI itself carries no measuring code.
 */
const USAGE_PRELOAD =
  "data:text/javascript,import{writeSync}from'node:fs';process.on('exit',()=>{const u=process.resourceUsage();try{writeSync(3,`${u.maxRSS} ${u.userCPUTime+u.systemCPUTime}`)}catch{}})";

interface TimedRun {
  code: number | null;
  seconds: number;
  outputBytes: number;
  /** sha256 of stdout, to compare reports without holding them. */
  outputHash: string;
  peakRssBytes: number;
  cpuSeconds: number;
  stderr: string;
}

/** Runs `node <script> ...args` in `repoRoot` (the production layout); `script` defaults to the CLI. */
function timeCli(repoRoot: string, args: string[], script = join(repoRoot, 'bin', 'tracegate.js')): Promise<TimedRun> {
  return new Promise((ok, fail) => {
    const started = process.hrtime.bigint();
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_OPTIONS'));
    const child = spawn(process.execPath, [`--import=${USAGE_PRELOAD}`, script, ...args], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe', 'pipe'] });
    let outputBytes = 0;
    const hash = createHash('sha256');
    let stderr = '';
    let usage = '';
    child.stdout!.on('data', (c: Buffer) => {
      outputBytes += c.length;
      hash.update(c);
    });
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    child.stdio[3]!.on('data', (c: Buffer) => (usage += c.toString('utf8')));
    child.once('error', fail);
    child.once('close', (code) => {
      const [rssKib, cpuMicros] = usage.split(' ').map(Number);
      ok({ code, seconds: Number(process.hrtime.bigint() - started) / 1e9, outputBytes, outputHash: hash.digest('hex'), peakRssBytes: rssKib! * 1024, cpuSeconds: cpuMicros! / 1e6, stderr });
    });
  });
}

/** The fastest of `runs` runs (the least disturbed on a shared machine), with the highest peak RSS of them all. */
async function bestOf(runs: number, repoRoot: string, args: string[], script?: string): Promise<TimedRun> {
  const all: TimedRun[] = [];
  for (let i = 0; i < runs; i++) all.push(await timeCli(repoRoot, args, script));
  const best = all.reduce((a, b) => (b.seconds < a.seconds ? b : a));
  return { ...best, peakRssBytes: Math.max(...all.map((r) => r.peakRssBytes)) };
}

/** Transpiles bench/check-baseline.ts into the layout beside dist/, as bench/prod-build.ts does the bench servers. */
async function writeBaseline(benchDir: string, layoutRoot: string): Promise<string> {
  const source = await readFile(join(benchDir, 'check-baseline.ts'), 'utf8');
  const js = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText;
  const file = join(layoutRoot, 'check-baseline.mjs');
  await writeFile(file, js.replaceAll("from '../src/", "from './dist/"));
  return file;
}

/**
 * Writes `count` copies of `manifest` (each with its own name, as a rendered chart set would have) into
 * one multi-document YAML file in `dir` and times `tracegate check` on it with the bundled policies,
 * `runs` times (and `tracegate version` and the baseline as often), keeping the fastest of each.
 */
export async function benchCheckCli(repoRoot: string, dir: string, manifest: KubeObject, count: number, runs = 1): Promise<CheckCliResult> {
  const docs: string[] = [];
  for (let i = 0; i < count; i++) {
    const name = `${manifest.metadata?.name ?? 'web'}-${String(i).padStart(5, '0')}`;
    docs.push(stringify({ ...manifest, metadata: { ...manifest.metadata, name } }));
  }
  const file = join(dir, 'check-input.yaml');
  const text = docs.join('---\n');
  await writeFile(file, text);
  const baselineScript = await writeBaseline(fileURLToPath(new URL('.', import.meta.url)), repoRoot);
  const startup = await bestOf(runs, repoRoot, ['version']);
  const run = await bestOf(runs, repoRoot, ['check', file]);
  const base = await bestOf(runs, repoRoot, [file], baselineScript);
  return {
    documents: count,
    inputBytes: Buffer.byteLength(text),
    exitCode: run.code,
    outputBytes: run.outputBytes,
    wallSeconds: run.seconds,
    startupSeconds: startup.seconds,
    docsPerSecond: count / run.seconds,
    docsPerSecondAfterStartup: count / Math.max(run.seconds - startup.seconds, 1e-9),
    peakRssBytes: run.peakRssBytes,
    cpuSeconds: run.cpuSeconds,
    startupPeakRssBytes: startup.peakRssBytes,
    runs,
    // The end of stderr holds the error; the whole of it could be the 10,000-document report.
    stderr: run.stderr.slice(-2000),
    baseline: {
      exitCode: base.code,
      wallSeconds: base.seconds,
      docsPerSecond: count / base.seconds,
      docsPerSecondAfterStartup: count / Math.max(base.seconds - startup.seconds, 1e-9),
      cpuSeconds: base.cpuSeconds,
      peakRssBytes: base.peakRssBytes,
    },
    sameOutput: base.code === run.code && base.outputHash === run.outputHash && base.stderr === run.stderr,
  };
}
