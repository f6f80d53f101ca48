/**
 * The cluster the benchmark's gate watches: the test Kubernetes API server (test/support/api-server)
 * holding the namespaces of config/dev-namespaces.yaml, so the gate resolves tenants from a live
 * namespace informer as it does in production (`--tenancy=cluster`).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseInputText } from '../src/check/inputs.js';
import { startTestApiServer } from '../test/support/api-server/index.js';
import type { JsonObject } from '../test/support/api-server/index.js';

/** A running API server and a kubeconfig for it. */
export interface BenchCluster {
  kubeconfig: string;
  close(): Promise<void>;
}

/** Starts the API server (no controllers: nothing but namespaces is needed) with the file's namespaces. */
export async function startBenchCluster(repoRoot: string, namespacesFile: string, dir: string): Promise<BenchCluster> {
  const server = await startTestApiServer({ controller: false });
  const file = join(repoRoot, namespacesFile);
  for (const doc of parseInputText(await readFile(file, 'utf8'), file)) {
    if (doc.object.kind === 'Namespace') server.store.put(doc.object as JsonObject);
  }
  return { kubeconfig: await server.kubeconfig(dir), close: () => server.close() };
}
