/**
 * The apiserver's defaulting (`SetDefaults_*` in k8s.io/kubernetes/pkg/apis/{apps,batch,core}/v1)
 * for the fields clients and webhooks notice. Applied to every write before admission and again after
 * it, so it must be idempotent.
 */
import { defaultCrd } from './crd-strategy.js';
import { ADDON_DEFAULTS } from './defaults-addon.js';
import { child, defaultPod, setDefault } from './defaults-pod.js';
import { WORKLOAD_DEFAULTS } from './defaults-workloads.js';
import type { JsonObject } from './types.js';

export { defaultPodSpec, defaultPullPolicy } from './defaults-pod.js';

/** Applies the defaults of built-in `kind` to `obj` in place (custom resources are defaulted from their schema). */
export function applyDefaults(kind: string, obj: JsonObject): void {
  const workload = WORKLOAD_DEFAULTS[kind] ?? ADDON_DEFAULTS[kind];
  if (workload !== undefined) {
    workload(obj);
    return;
  }
  switch (kind) {
    case 'Pod':
      defaultPod(obj);
      break;
    case 'Secret':
      setDefault(obj, 'type', 'Opaque');
      break;
    case 'CustomResourceDefinition':
      defaultCrd(obj);
      break;
    case 'Event':
      // Not defaulting but the metav1.Time round trip: timestamps are stored to the second.
      for (const k of ['firstTimestamp', 'lastTimestamp']) {
        const t = obj[k];
        if (typeof t === 'string' && !Number.isNaN(Date.parse(t))) obj[k] = `${new Date(t).toISOString().slice(0, 19)}Z`;
      }
      break;
    case 'Namespace': {
      const meta = child(obj, 'metadata');
      // Added by the apiserver since 1.21 so namespaceSelectors can match on the name.
      if (typeof meta['name'] === 'string') child(meta, 'labels')['kubernetes.io/metadata.name'] = meta['name'];
      setDefault(child(obj, 'spec'), 'finalizers', ['kubernetes']);
      setDefault(child(obj, 'status'), 'phase', 'Active');
      break;
    }
  }
}
