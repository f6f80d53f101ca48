/** `tracegate check` over many documents: one real CLI run, timed from outside, startup included and shown apart. */
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
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
  stderr: string;
}

function timeCli(repoRoot: string, args: string[]): Promise<{ code: number | null; seconds: number; outputBytes: number; stderr: string }> {
  return new Promise((ok, fail) => {
    const started = process.hrtime.bigint();
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NODE_OPTIONS'));
    const child = spawn(process.execPath, [join(repoRoot, 'bin', 'tracegate.js'), ...args], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let outputBytes = 0;
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (outputBytes += c.length));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    child.once('error', fail);
    child.once('close', (code) => ok({ code, seconds: Number(process.hrtime.bigint() - started) / 1e9, outputBytes, stderr }));
  });
}

/**
 * Writes `count` copies of `manifest` (each with its own name, as a rendered chart set would have) into
 * one multi-document YAML file in `dir` and times `tracegate check` on it with the bundled policies.
 */
export async function benchCheckCli(repoRoot: string, dir: string, manifest: KubeObject, count: number): Promise<CheckCliResult> {
  const docs: string[] = [];
  for (let i = 0; i < count; i++) {
    const name = `${manifest.metadata?.name ?? 'web'}-${String(i).padStart(5, '0')}`;
    docs.push(stringify({ ...manifest, metadata: { ...manifest.metadata, name } }));
  }
  const file = join(dir, 'check-input.yaml');
  const text = docs.join('---\n');
  await writeFile(file, text);
  const startup = await timeCli(repoRoot, ['version']);
  const run = await timeCli(repoRoot, ['check', file]);
  return {
    documents: count,
    inputBytes: Buffer.byteLength(text),
    exitCode: run.code,
    outputBytes: run.outputBytes,
    wallSeconds: run.seconds,
    startupSeconds: startup.seconds,
    docsPerSecond: count / run.seconds,
    docsPerSecondAfterStartup: count / Math.max(run.seconds - startup.seconds, 1e-9),
    // The end of stderr holds the error; the whole of it could be the 10,000-document report.
    stderr: run.stderr.slice(-2000),
  };
}
