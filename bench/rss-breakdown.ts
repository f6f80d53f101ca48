/**
 * Where the gate's resident memory goes before any review: a fresh `node` (the production build, no
 * tsx) loads the gate's dependencies one at a time and reports its RSS and heap after each, after a full
 * garbage collection. The increments show what the idle gate is made of.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { ProductionLayout } from './prod-build.js';

const run = promisify(execFile);

/** Memory after one more module was loaded. */
export interface RssStep {
  module: string;
  rssMB: number;
  heapUsedMB: number;
}

/**
 * What is loaded, in order: node alone, the gate's direct dependencies, then the gate itself
 * (server/gate.js). Not @kubernetes/client-node: the gate imports it only when it runs against a cluster
 * (namespace labels from the API; see connectCluster in src/server/gate.ts).
 */
const STEPS = ['pino', 'prom-client', 'ajv', 'yaml', 'node-forge'];

/** Measures the steps in a child process started with the manifest's environment. */
export async function measureRssBreakdown(layout: ProductionLayout): Promise<RssStep[]> {
  const gateModule = join(layout.root, 'dist', 'server', 'gate.js');
  const script = `
    const mb = (n) => Math.round(n / 2 ** 20);
    const step = (module) => { globalThis.gc(); const m = process.memoryUsage(); return { module, rssMB: mb(m.rss), heapUsedMB: mb(m.heapUsed) }; };
    const out = [step('node')];
    for (const m of ${JSON.stringify(STEPS)}) { await import(m); out.push(step(m)); }
    await import(${JSON.stringify(gateModule)});
    out.push(step('tracegate server/gate.js'));
    process.stdout.write(JSON.stringify(out));
  `;
  const { stdout } = await run(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], { cwd: layout.root, env: { ...process.env, ...layout.env, NODE_OPTIONS: layout.env.NODE_OPTIONS ?? '' } });
  return JSON.parse(stdout) as RssStep[];
}

/** The breakdown as one text line per step, with the increment. */
export function formatRssBreakdown(steps: readonly RssStep[]): string {
  const lines = steps.map((s, i) => {
    const prev = steps[i - 1];
    const d = prev ? s.rssMB - prev.rssMB : undefined;
    const delta = (d === undefined ? '' : d >= 0 ? `+${d}` : String(d)).padStart(5);
    return `  ${s.module.padEnd(28)} RSS ${String(s.rssMB).padStart(4)} MB ${delta}  heap ${String(s.heapUsedMB).padStart(3)} MB`;
  });
  return `Idle memory of the gate's process, module by module (fresh node, production build, after a full GC)\n${lines.join('\n')}\n`;
}
