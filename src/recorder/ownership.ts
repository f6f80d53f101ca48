/**
 * Who owns a workload, which decides where its changes are recorded: a Helm release appends revisions;
 * a workload nobody owns is adopted into a release of its own; a workload another declarative owner
 * manages (Argo CD, Flux, another controller) is recorded in tracegate's trail only — writing Helm
 * revisions for it would give it two owners that undo each other's changes; and what Kubernetes' own
 * controllers create from their owner's template (a Deployment's ReplicaSets, a CronJob's Jobs) is not
 * recorded at all: its owner's trail already says what runs. Pure.
 *
 * Every signal read here is client-written. That is acceptable because ownership only decides *where*
 * a change is recorded, never *whether*: a forged owner moves a workload's record to the trail. The one
 * place a forged signal could reach beyond the workload's namespace — Helm's release-namespace
 * annotation — is held to the workload's own namespace.
 */
import { isRecord, type KubeObject } from '../k8s/types.js';
import { apiVersionOf, workloadKind } from '../workload/kinds.js';

export type Ownership =
  /** Created by a built-in controller from its owner's template: the owner is recorded instead. */
  | { type: 'child'; owner: string }
  /** Managed by another declarative owner: recorded in the trail, never adopted into a Helm release. */
  | { type: 'managed'; by: string }
  /** Part of a Helm release (Helm's ownership annotations). */
  | { type: 'helm'; release: string; namespace: string }
  /** Owned by nobody: adopted into a release of its own. */
  | { type: 'adoptable' };

/** The controller pairs Kubernetes itself creates: only these children are left to their owner's record. */
const BUILT_IN_CHILDREN: Readonly<Record<string, string>> = {
  ReplicaSet: 'Deployment',
  Job: 'CronJob',
};

const HELM_RELEASE_NAME = 'meta.helm.sh/release-name';
const HELM_RELEASE_NAMESPACE = 'meta.helm.sh/release-namespace';
const ARGOCD_TRACKING_ID = 'argocd.argoproj.io/tracking-id';
const ARGOCD_INSTANCE_LABEL = 'argocd.argoproj.io/instance';
/** Argo CD's default tracking label before 3.0 — shared with Helm charts, so only with Argo CD's field manager. */
const INSTANCE_LABEL = 'app.kubernetes.io/instance';
const FLUX_OWNERS: readonly { label: string; what: string }[] = [
  { label: 'kustomize.toolkit.fluxcd.io', what: 'Flux Kustomization' },
  { label: 'helm.toolkit.fluxcd.io', what: 'Flux HelmRelease' },
];

function controllerRef(obj: KubeObject): Record<string, unknown> | undefined {
  const refs = obj.metadata?.ownerReferences;
  return Array.isArray(refs) ? refs.find((r): r is Record<string, unknown> => isRecord(r) && r.controller === true) : undefined;
}

function argoApplication(obj: KubeObject): string | undefined {
  const tracking = obj.metadata?.annotations?.[ARGOCD_TRACKING_ID];
  // `<app>:<group>/<kind>:<namespace>/<name>`; the app may be `<namespace>_<name>` for apps in any namespace.
  if (typeof tracking === 'string' && tracking !== '') return tracking.split(':')[0] || tracking;
  const labels = obj.metadata?.labels ?? {};
  const custom = labels[ARGOCD_INSTANCE_LABEL];
  if (typeof custom === 'string' && custom !== '') return custom;
  const instance = labels[INSTANCE_LABEL];
  const byArgo = (obj.metadata?.managedFields ?? []).some((e) => typeof e.manager === 'string' && e.manager.startsWith('argocd'));
  return typeof instance === 'string' && instance !== '' && byArgo ? instance : undefined;
}

function fluxOwner(obj: KubeObject): string | undefined {
  const labels = obj.metadata?.labels ?? {};
  for (const { label, what } of FLUX_OWNERS) {
    const name = labels[`${label}/name`];
    if (typeof name === 'string' && name !== '') {
      const ns = labels[`${label}/namespace`];
      return `${what} ${typeof ns === 'string' && ns ? `${ns}/` : ''}${name}`;
    }
  }
  return undefined;
}

/** Decides who owns `obj` (see {@link Ownership}). */
export function ownershipOf(obj: KubeObject): Ownership {
  const ref = controllerRef(obj);
  if (ref) {
    const ownerKind = String(ref.kind ?? '');
    const ownerInfo = workloadKind(ownerKind);
    const builtIn = ownerInfo !== undefined && BUILT_IN_CHILDREN[String(obj.kind)] === ownerKind && ref.apiVersion === apiVersionOf(ownerInfo);
    const owner = `${ownerKind}/${String(ref.name ?? '')}`;
    return builtIn ? { type: 'child', owner } : { type: 'managed', by: `controller ${String(ref.apiVersion ?? '')} ${owner}` };
  }
  const flux = fluxOwner(obj);
  if (flux) return { type: 'managed', by: flux };
  const argo = argoApplication(obj);
  if (argo) return { type: 'managed', by: `Argo CD application ${argo}` };
  const annotations = obj.metadata?.annotations ?? {};
  const release = annotations[HELM_RELEASE_NAME];
  if (typeof release === 'string' && release !== '') {
    const own = obj.metadata?.namespace ?? 'default';
    const ns = annotations[HELM_RELEASE_NAMESPACE];
    const namespace = typeof ns === 'string' && ns ? ns : own;
    // Anyone who may annotate this workload could name any release in any namespace: writing revisions
    // there would let a tenant write into another tenant's `helm history` (and read it back through the
    // trail). A release elsewhere is therefore an owner tracegate records beside, never writes into.
    if (namespace !== own) return { type: 'managed', by: `Helm release ${namespace}/${release} (in another namespace)` };
    return { type: 'helm', release, namespace };
  }
  return { type: 'adoptable' };
}
