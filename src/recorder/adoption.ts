/**
 * Adoption: a workload that belongs to no Helm release becomes revision 1 of a release of its own — a
 * one-document manifest as a chart would render it, and a minimal chart marked as tracegate's. Pure.
 */
import { Document, visit } from 'yaml';
import { isRecord, type KubeObject } from '../k8s/types.js';
import { DEFAULT_ANNOTATION_PREFIX } from '../policy/defaults.js';
import { parseImageRef } from '../images/index.js';
import { podTemplateOf } from '../workload/pod-template.js';
import { withoutSpecDefaults } from '../workload/defaults.js';
import { BASE_FORMAT } from '../yaml/manifest-doc.js';
import { quoteIfAmbiguous } from '../yaml/node-edit.js';
import type { HelmChart } from './release.js';

/** Options of {@link adoptionManifest}. */
export interface AdoptionOptions {
  /** Chart name for the `# Source:` header; defaults to the workload's name. */
  chart?: string;
  /** Prefix of tracegate's own annotations, dropped from the manifest (default `tracegate.io/`). */
  annotationPrefix?: string;
}

function isBookkeeping(key: string, prefix: string): boolean {
  return (
    key.startsWith('kubectl.kubernetes.io/') ||
    key.startsWith('deployment.kubernetes.io/') ||
    key.startsWith('meta.helm.sh/') ||
    key === 'kubernetes.io/change-cause' ||
    (prefix !== '' && key.startsWith(prefix))
  );
}

function filtered(map: unknown, prefix: string): Record<string, unknown> | undefined {
  if (!isRecord(map)) return undefined;
  const out = Object.fromEntries(Object.entries(map).filter(([k]) => !isBookkeeping(k, prefix)));
  return Object.keys(out).length > 0 ? out : undefined;
}

/**
 * A one-document manifest for a workload that belongs to no release, as a chart would render it:
 * apiVersion, kind, metadata (name, labels and annotations without kubectl/Helm/tracegate bookkeeping;
 * no namespace — Helm applies it to the release namespace, which must be the workload's), and the spec
 * without status, identity or apiserver defaults.
 */
export function adoptionManifest(live: KubeObject, opts: AdoptionOptions = {}): string {
  const name = live.metadata?.name ?? 'workload';
  const kind = live.kind ?? 'Deployment';
  const prefix = opts.annotationPrefix ?? DEFAULT_ANNOTATION_PREFIX;
  const metadata: Record<string, unknown> = { name };
  const labels = filtered(live.metadata?.labels, prefix);
  const annotations = filtered(live.metadata?.annotations, prefix);
  if (labels) metadata.labels = labels;
  if (annotations) metadata.annotations = annotations;

  const spec = withoutSpecDefaults(kind, live.spec);

  const doc = new Document({ apiVersion: live.apiVersion ?? 'apps/v1', kind, metadata, spec });
  visit(doc, { Scalar: (_key, scalar) => quoteIfAmbiguous(scalar) });
  const chart = opts.chart ?? name;
  return `---\n# Source: ${chart}/templates/${kind.toLowerCase()}.yaml\n${doc.toString(BASE_FORMAT)}`;
}


/** A chart for an adopted workload: enough for `helm history/get/rollback`, marked as tracegate's. */
export function adoptionChart(obj: KubeObject, manifest: string, adoptedKey: string): HelmChart {
  const name = obj.metadata?.name ?? 'workload';
  const image = podTemplateOf(obj)?.spec?.containers?.[0]?.image;
  const parsed = typeof image === 'string' ? parseImageRef(image) : undefined;
  const tag = parsed?.ok ? parsed.value.tag : undefined;
  return {
    metadata: {
      name,
      version: '0.0.0',
      apiVersion: 'v2',
      description: `${obj.kind} ${obj.metadata?.namespace}/${name}, adopted by tracegate to record changes made outside Helm`,
      type: 'application',
      ...(tag ? { appVersion: tag } : {}),
      annotations: { [adoptedKey]: 'true' },
    },
    lock: null,
    templates: [{ name: `templates/${String(obj.kind).toLowerCase()}.yaml`, data: Buffer.from(manifest).toString('base64') }],
    values: {},
    schema: null,
    files: [],
  };
}
