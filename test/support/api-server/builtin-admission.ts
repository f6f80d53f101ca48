/**
 * The in-tree mutating admission plugins a Pod CREATE passes before any webhook (they run first in
 * kube-apiserver's default plugin order): `ServiceAccount` (plugin/pkg/admission/serviceaccount:
 * `serviceAccountName: default` and the projected `kube-api-access-*` token volume mounted in every
 * container), `Priority` (plugin/pkg/admission/priority: priority from the class, 0 without one) and
 * `DefaultTolerationSeconds` (plugin/pkg/admission/defaulttolerationseconds: tolerate not-ready and
 * unreachable nodes for 300 s). Every service account is taken to exist with default automounting
 * (no controller creates the `default` ones); PriorityClasses are looked up among the stored ones.
 */
import { isRecord } from '../../../src/k8s/types.js';
import { ApiError } from './status.js';
import type { JsonObject } from './types.js';

/** Where the ServiceAccount plugin mounts the token volume. */
const TOKEN_MOUNT_PATH = '/var/run/secrets/kubernetes.io/serviceaccount';
/** `expirationSeconds` of the projected token: an hour plus the 7 s the plugin adds to spot stale tokens. */
const TOKEN_EXPIRATION_SECONDS = 3607;
/** `0644` in decimal, the projected volume's defaultMode. */
const DEFAULT_VOLUME_MODE = 420;
/** `names.SimpleNameGenerator`: 5 characters of `utilrand.String`. */
const NAME_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';
const NAME_SUFFIX_LENGTH = 5;
/** `DefaultTolerationSeconds`' --default-not-ready-toleration-seconds and --default-unreachable-toleration-seconds. */
const DEFAULT_TOLERATION_SECONDS = 300;
const TOLERATED_TAINTS = ['node.kubernetes.io/not-ready', 'node.kubernetes.io/unreachable'];

function randomSuffix(): string {
  let suffix = '';
  for (let i = 0; i < NAME_SUFFIX_LENGTH; i++) suffix += NAME_ALPHABET[Math.floor(Math.random() * NAME_ALPHABET.length)];
  return suffix;
}

function tokenVolume(name: string): JsonObject {
  return {
    name,
    projected: {
      sources: [
        { serviceAccountToken: { expirationSeconds: TOKEN_EXPIRATION_SECONDS, path: 'token' } },
        { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
        { downwardAPI: { items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }] } },
      ],
      defaultMode: DEFAULT_VOLUME_MODE,
    },
  };
}

function serviceAccount(spec: JsonObject): void {
  if (typeof spec['serviceAccountName'] !== 'string' || spec['serviceAccountName'] === '') spec['serviceAccountName'] = 'default';
  if (spec['automountServiceAccountToken'] === false) return;
  const volumes = Array.isArray(spec['volumes']) ? spec['volumes'] : [];
  const containers = ['initContainers', 'containers'].flatMap((list) => (Array.isArray(spec[list]) ? spec[list].filter(isRecord) : []));
  const mounted = (c: JsonObject): boolean => Array.isArray(c['volumeMounts']) && c['volumeMounts'].some((m) => isRecord(m) && m['mountPath'] === TOKEN_MOUNT_PATH);
  if (containers.every(mounted)) return;
  const name = `kube-api-access-${randomSuffix()}`;
  spec['volumes'] = [...volumes, tokenVolume(name)];
  for (const c of containers) {
    if (mounted(c)) continue;
    c['volumeMounts'] = [...(Array.isArray(c['volumeMounts']) ? c['volumeMounts'] : []), { name, readOnly: true, mountPath: TOKEN_MOUNT_PATH }];
  }
}

/** The Priority plugin: the named class's value and preemption policy; without a name, the global default class or 0. */
function priority(spec: JsonObject, name: string, classes: (name: string) => JsonObject | undefined, all: () => JsonObject[]): void {
  const className = spec['priorityClassName'];
  if (typeof className !== 'string' || className === '') {
    const fallback = all().find((pc) => pc['globalDefault'] === true);
    if (fallback === undefined) {
      spec['priority'] = 0;
      spec['preemptionPolicy'] ??= 'PreemptLowerPriority';
      return;
    }
    spec['priorityClassName'] = isRecord(fallback['metadata']) ? fallback['metadata']['name'] : '';
    spec['priority'] = fallback['value'];
    spec['preemptionPolicy'] ??= fallback['preemptionPolicy'] ?? 'PreemptLowerPriority';
    return;
  }
  const pc = classes(className);
  if (pc === undefined) {
    throw new ApiError(403, 'Forbidden', `pods "${name}" is forbidden: no PriorityClass with name ${className} was found`, { name, kind: 'pods' });
  }
  spec['priority'] = pc['value'];
  spec['preemptionPolicy'] ??= pc['preemptionPolicy'] ?? 'PreemptLowerPriority';
}

function tolerates(tolerations: unknown[], key: string): boolean {
  return tolerations.some((t) => isRecord(t) && (t['effect'] === undefined || t['effect'] === '' || t['effect'] === 'NoExecute') && (t['key'] === key || ((t['key'] === undefined || t['key'] === '') && t['operator'] === 'Exists')));
}

function defaultTolerationSeconds(spec: JsonObject): void {
  const tolerations = Array.isArray(spec['tolerations']) ? [...spec['tolerations']] : [];
  for (const key of TOLERATED_TAINTS) {
    if (!tolerates(tolerations, key)) tolerations.push({ key, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: DEFAULT_TOLERATION_SECONDS });
  }
  spec['tolerations'] = tolerations;
}

/** Runs the plugins on a Pod being created, in place; throws the plugin's 403 on an unknown PriorityClass. */
export function admitPodCreate(pod: JsonObject, priorityClasses: () => JsonObject[]): void {
  if (!isRecord(pod['spec'])) pod['spec'] = {};
  const spec = pod['spec'] as JsonObject;
  const meta = isRecord(pod['metadata']) ? pod['metadata'] : {};
  const name = typeof meta['name'] === 'string' ? meta['name'] : '';
  serviceAccount(spec);
  const classes = priorityClasses();
  priority(spec, name, (n) => classes.find((pc) => isRecord(pc['metadata']) && pc['metadata']['name'] === n), () => classes);
  defaultTolerationSeconds(spec);
}
