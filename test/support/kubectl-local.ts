/**
 * Real Kubernetes objects and edits produced offline by the real kubectl (`--dry-run=client` /
 * `--local`, objects fed on stdin), so tests compare against what kubectl really sends rather than
 * against hand-written fixtures. runTool's dummy kubeconfig points at an unreachable server; none of
 * these commands contacts it.
 *
 * What kubectl v1.35.2 prints differs from what the API server would store (observed):
 * - `create deployment` has no defaults (no imagePullPolicy, restartPolicy, dnsPolicy, port `protocol`,
 *   revisionHistoryLimit, …), no uid/resourceVersion/generation/managedFields and, unlike older kubectl,
 *   no `creationTimestamp: null`; it does carry `status: {}`, `spec.strategy: {}` and `resources: {}`
 *   in every container.
 * - Edits keep whatever the input had (uid, status, …) and change only what the command changes;
 *   `--show-managed-fields` is passed because `-o json` would otherwise drop `metadata.managedFields`.
 * - Key order follows kubectl's serialiser; compare parsed objects, not text.
 */
import { resolve } from 'node:path';
import type { KubeObject } from '../../src/k8s/types.js';
import { runTool } from './tools.js';
import type { RealTools } from './tools.js';

/** The offline kubectl operations; every method runs the real binary once. */
export interface KubectlLocal {
  /** `kubectl create deployment NAME --image=… --dry-run=client -o json`; each image becomes a container, `port` goes on the first. */
  createDeployment(
    name: string,
    opts: { image: string | string[]; namespace?: string; replicas?: number; port?: number },
  ): Promise<KubeObject>;
  /** `kubectl set image --local -f - CONTAINER=IMAGE …`; `*` as container name means all containers. */
  setImage(obj: KubeObject, assignments: Record<string, string>): Promise<KubeObject>;
  /** `kubectl set resources --local -f - [-c X] --limits=cpu=…,memory=… --requests=…`; no container means all. */
  setResources(obj: KubeObject, opts: { container?: string; limits?: string; requests?: string }): Promise<KubeObject>;
  /** `kubectl annotate --local --overwrite -f - k=v …`. */
  annotate(obj: KubeObject, kv: Record<string, string>): Promise<KubeObject>;
  /** `kubectl label --local --overwrite -f - k=v …`. */
  label(obj: KubeObject, kv: Record<string, string>): Promise<KubeObject>;
  /** `kubectl patch --local -f - --type TYPE -p PATCH`; `type` defaults to strategic, as in kubectl. */
  patch(obj: KubeObject, patch: object, type?: 'strategic' | 'merge' | 'json'): Promise<KubeObject>;
  /**
   * What `kubectl rollout restart` would send, applied offline: that command has no `--local` or
   * `--dry-run`, so its strategic patch of `spec.template.metadata.annotations["kubectl.kubernetes.io/restartedAt"]`
   * goes through `kubectl patch --local`. `at` defaults to now in RFC3339 (seconds, UTC).
   */
  rolloutRestartPatch(obj: KubeObject, at?: string): Promise<KubeObject>;
  /** `kubectl kustomize DIR`, returning the rendered multi-document YAML. */
  kustomize(dir: string): Promise<string>;
}

/**
 * Builds the offline kubectl operations on the given binary. Every method rejects with kubectl's
 * stderr when kubectl exits non-zero (e.g. `set image` naming an unknown container).
 */
export function createKubectlLocal(tools: Pick<RealTools, 'kubectl'>): KubectlLocal {
  async function run(args: string[], input?: string): Promise<string> {
    const res = await runTool(tools.kubectl, args, input === undefined ? {} : { input });
    if (res.code !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${res.code}: ${res.stderr.trim()}`);
    return res.stdout;
  }

  async function runJson(args: string[], input?: string): Promise<KubeObject> {
    const out = await run([...args, '-o', 'json'], input);
    const parsed: unknown = JSON.parse(out);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new Error(`kubectl ${args.join(' ')} printed no object: ${out}`);
    }
    return parsed as KubeObject;
  }

  /** Edits run on the object from stdin and keep managedFields so "nothing else changed" holds. */
  function edit(obj: KubeObject, args: string[]): Promise<KubeObject> {
    return runJson([...args, '--local', '-f', '-', '--show-managed-fields'], JSON.stringify(obj));
  }

  const pairs = (kv: Record<string, string>): string[] => Object.entries(kv).map(([k, v]) => `${k}=${v}`);

  return {
    createDeployment(name, opts) {
      const images = Array.isArray(opts.image) ? opts.image : [opts.image];
      const args = ['create', 'deployment', name, ...images.map((i) => `--image=${i}`), '--dry-run=client'];
      if (opts.namespace !== undefined) args.push(`--namespace=${opts.namespace}`);
      if (opts.replicas !== undefined) args.push(`--replicas=${opts.replicas}`);
      if (opts.port !== undefined) args.push(`--port=${opts.port}`);
      return runJson(args);
    },
    setImage: (obj, assignments) => edit(obj, ['set', 'image', ...pairs(assignments)]),
    setResources(obj, opts) {
      const args = ['set', 'resources'];
      if (opts.container !== undefined) args.push(`--containers=${opts.container}`);
      if (opts.limits !== undefined) args.push(`--limits=${opts.limits}`);
      if (opts.requests !== undefined) args.push(`--requests=${opts.requests}`);
      return edit(obj, args);
    },
    // --overwrite: without it kubectl refuses to change a key that already has a value.
    annotate: (obj, kv) => edit(obj, ['annotate', '--overwrite', ...pairs(kv)]),
    label: (obj, kv) => edit(obj, ['label', '--overwrite', ...pairs(kv)]),
    patch: (obj, patch, type = 'strategic') => edit(obj, ['patch', `--type=${type}`, `--patch=${JSON.stringify(patch)}`]),
    rolloutRestartPatch(obj, at = new Date().toISOString().replace(/\.\d+Z$/, 'Z')) {
      const restart = { spec: { template: { metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': at } } } } };
      return edit(obj, ['patch', '--type=strategic', `--patch=${JSON.stringify(restart)}`]);
    },
    // Resolved here because runTool runs in a temp dir, not the caller's cwd.
    kustomize: (dir) => run(['kustomize', resolve(dir)]),
  };
}
