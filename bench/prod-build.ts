/**
 * The servers as production runs them: the gate compiled by tsc into the container image's layout
 * (dist/, bin/, policies/, package.json, node_modules) and started with the environment of
 * manifests/deployment.yaml; the baseline transpiled to plain JavaScript. Neither runs under tsx, whose
 * loader thread and source transforms would add memory and start-up work production never pays.
 */
import { execFile } from 'node:child_process';
import { cp, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import ts from 'typescript';
import { parseAllDocuments } from 'yaml';

const run = promisify(execFile);

/** Where the built servers live. */
export interface ProductionLayout {
  /** Root of the image-like layout: `node <root>/bin/tracegate.js` is the container's entrypoint. */
  root: string;
  /** The gate's launcher. */
  bin: string;
  /** The baseline server as an ES module. */
  baseline: string;
  /** The baseline+policies server (bench/policy-server.ts) as an ES module. */
  policyServer: string;
  /** `env` of the gate container in manifests/deployment.yaml (NODE_OPTIONS with the heap limit). */
  env: Record<string, string>;
}

/** bench/ sources that run as servers from the layout, and the file each becomes there. */
const BENCH_MODULES: readonly [string, string][] = [
  ['baseline-server.ts', 'baseline-server.mjs'],
  ['policy-server.ts', 'policy-server.mjs'],
  ['bare-server.ts', 'bench-bare-server.mjs'],
  ['handlers.ts', 'bench-handlers.mjs'],
];

/** The gate container's env values from the install manifest; empty when the manifest changes shape. */
async function manifestEnv(repoRoot: string): Promise<Record<string, string>> {
  const text = await readFile(join(repoRoot, 'manifests', 'deployment.yaml'), 'utf8');
  for (const doc of parseAllDocuments(text)) {
    const obj = doc.toJS() as { kind?: string; spec?: { template?: { spec?: { containers?: { name?: string; env?: { name: string; value?: string }[] }[] } } } } | null;
    const gate = obj?.kind === 'Deployment' ? obj.spec?.template?.spec?.containers?.find((c) => c.name === 'gate') : undefined;
    if (gate) return Object.fromEntries((gate.env ?? []).filter((e) => e.value !== undefined).map((e) => [e.name, e.value!]));
  }
  return {};
}

/** Compiles src/ as the Dockerfile does (`npm run build`) into `dir`, and the baseline beside it. */
export async function buildProductionLayout(repoRoot: string, dir: string): Promise<ProductionLayout> {
  const tsc = join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc');
  await run(process.execPath, [tsc, '-p', join(repoRoot, 'tsconfig.build.json'), '--outDir', join(dir, 'dist'), '--declaration', 'false'], { cwd: repoRoot });
  await mkdir(dir, { recursive: true });
  await cp(join(repoRoot, 'bin'), join(dir, 'bin'), { recursive: true });
  await cp(join(repoRoot, 'policies'), join(dir, 'policies'), { recursive: true });
  await cp(join(repoRoot, 'package.json'), join(dir, 'package.json'));
  await symlink(join(repoRoot, 'node_modules'), join(dir, 'node_modules'), 'dir');

  // The bench servers run beside dist/: their imports of src/ point there instead.
  for (const [from, to] of BENCH_MODULES) {
    const source = await readFile(join(repoRoot, 'bench', from), 'utf8');
    const js = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText;
    let out = js.replaceAll("from '../src/", "from './dist/");
    for (const [name, built] of BENCH_MODULES) out = out.replaceAll(`from './${name.replace(/\.ts$/, '.js')}'`, `from './${built}'`);
    await writeFile(join(dir, to), out);
  }
  return { root: dir, bin: join(dir, 'bin', 'tracegate.js'), baseline: join(dir, 'baseline-server.mjs'), policyServer: join(dir, 'policy-server.mjs'), env: { NODE_ENV: 'production', ...(await manifestEnv(repoRoot)) } };
}
