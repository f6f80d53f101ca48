/**
 * The gate's stamps: the annotations only the gate may write (tenant, who, with which tool, the change
 * id, the commit/approver/pipeline run the change was admitted with, the commits it used, a
 * break-glass waiver, the change-cause), and the keyed MAC in the change id that binds them to this
 * object, its pod template and each other. /mutate writes them from the request, overwriting what the
 * client sent; /validate refuses an object whose stamps differ from what /mutate would have written; the
 * recorder calls a change verified only when the MAC checks. Pure.
 */
import { isRecord, type KubeObject } from '../k8s/types.js';
import type { MacKeyring } from '../provenance/mac.js';
import { changeViewOf } from '../workload/pod-template.js';
import { CHANGE_CAUSE, type TracegateKeys } from './annotations.js';
import { templateHash } from './change-id.js';

/**
 * The template hash the stamps bind: what runs (a workload's pod template; a Pod's spec without its
 * debug containers), never the metadata that carries the stamps themselves.
 */
export function stampHash(obj: KubeObject): string {
  return templateHash(changeViewOf(obj));
}

/** The annotation keys only the gate writes, in the order the MAC covers them (change-cause aside). */
export function stampKeys(k: TracegateKeys): readonly string[] {
  return [k.tenant, k.changedBy, k.fieldManager, k.changeId, k.changeCommit, k.changeApprover, k.changePipelineRun, k.usedCommits, k.breakGlassChange, k.changeVerified, k.changeTestResults];
}

/**
 * Stamps added after the MAC's first version: covered only when present, named in the MAC input, so
 * every change id made before them still checks (an absent one adds nothing) and none can be dropped
 * or moved without breaking the MAC (the length-prefixed name and value are part of what it covers).
 */
function optionalStampKeys(k: TracegateKeys): readonly string[] {
  return [k.changeVerified, k.changeTestResults];
}

/** Every key the gate owns on the object's annotations: its stamps and Kubernetes' change-cause. */
export function ownedAnnotationKeys(k: TracegateKeys): readonly string[] {
  return [...stampKeys(k), CHANGE_CAUSE];
}

/** `<id>.<template hash>.<key id>.<MAC>`, split; undefined for anything else. */
export interface ChangeIdParts {
  id: string;
  hash: string;
  mac?: string;
}

/** Ids are base-36 time then hex; hashes hex; a MAC is `<key id>.<base64url>`. */
const CHANGE_ID = /^([0-9a-z]{1,40})\.([0-9a-f]{16})(?:\.([a-z0-9][a-z0-9-]{0,15}\.[A-Za-z0-9_-]{1,64}))?$/;

/** Splits a change id; undefined when it is not one the gate could have written. */
export function parseChangeId(value: unknown): ChangeIdParts | undefined {
  if (typeof value !== 'string') return undefined;
  const m = CHANGE_ID.exec(value);
  if (!m) return undefined;
  return m[3] ? { id: m[1]!, hash: m[2]!, mac: m[3] } : { id: m[1]!, hash: m[2]! };
}

/** What a change's MAC binds: the object, its template, the change id and every other stamp. */
export interface MacSubject {
  namespace: string;
  kind: string;
  name: string;
  /** The object's uid; empty for stamps written at CREATE, before the apiserver assigns it. */
  uid: string;
  /** Every stamp except the change id, as written (absent stamps as ''). */
  stamps: Readonly<Record<string, string | undefined>>;
  id: string;
  hash: string;
}

function macFields(k: TracegateKeys, s: MacSubject): string[] {
  const fields = ['tracegate-change/v1', s.namespace, s.kind, s.name, s.uid, s.id, s.hash];
  const optional = optionalStampKeys(k);
  for (const key of stampKeys(k)) if (key !== k.changeId && !optional.includes(key)) fields.push(s.stamps[key] ?? '');
  for (const key of optional) {
    const v = s.stamps[key];
    if (v !== undefined) fields.push(key, v);
  }
  return fields;
}

/** The change id with its MAC: `<id>.<hash>.<key id>.<MAC>`. */
export function signedChangeId(keyring: MacKeyring, k: TracegateKeys, subject: MacSubject): string {
  return `${subject.id}.${subject.hash}.${keyring.sign(macFields(k, subject))}`;
}

/** The object's annotations as stamps (absent keys undefined). */
export function stampsOf(obj: KubeObject | null | undefined, k: TracegateKeys): Record<string, string | undefined> {
  const a = obj?.metadata?.annotations;
  const out: Record<string, string | undefined> = {};
  for (const key of stampKeys(k)) {
    const v = isRecord(a) ? a[key] : undefined;
    out[key] = typeof v === 'string' ? v : undefined;
  }
  return out;
}

/**
 * True when the object's stamps were written by the gate (with a key in the ring) for this object and
 * the pod template whose hash the change id names — whatever the template is now. Stamps written at
 * CREATE bind no uid (not assigned yet), nor a name the apiserver generated after admission: they check
 * with those empty.
 */
export function stampsAuthentic(keyring: MacKeyring | undefined, k: TracegateKeys, obj: KubeObject | null | undefined): boolean {
  if (!keyring || !obj) return false;
  const stamps = stampsOf(obj, k);
  const parts = parseChangeId(stamps[k.changeId]);
  if (!parts?.mac) return false;
  const base = { namespace: obj.metadata?.namespace ?? '', kind: String(obj.kind ?? ''), stamps, id: parts.id, hash: parts.hash };
  const uid = obj.metadata?.uid ?? '';
  const name = obj.metadata?.name ?? '';
  const mac = parts.mac;
  const check = (n: string, u: string) => keyring.verify(macFields(k, { ...base, name: n, uid: u }), mac);
  return check(name, uid) || check(name, '') || (obj.metadata?.generateName !== undefined && check('', ''));
}

/**
 * True when the stamps are authentic and were written for the template the object has now (`hash`):
 * the gate admitted what runs. Authentic stamps on another template mean the template changed since,
 * without the gate.
 */
export function stampsVerify(keyring: MacKeyring | undefined, k: TracegateKeys, obj: KubeObject | null | undefined, hash: string): boolean {
  return parseChangeId(obj?.metadata?.annotations?.[k.changeId])?.hash === hash && stampsAuthentic(keyring, k, obj);
}

/** Where a stamp key may not appear: labels, and the pod template's annotations and labels. */
export function misplacedStamps(obj: KubeObject | null | undefined, templateMeta: unknown, k: TracegateKeys): string[] {
  const out: string[] = [];
  const keys = stampKeys(k);
  const look = (map: unknown, where: string) => {
    if (!isRecord(map)) return;
    for (const key of keys) if (Object.hasOwn(map, key)) out.push(`${where} ${key}`);
  };
  look(obj?.metadata?.labels, 'label');
  if (isRecord(templateMeta)) {
    look(templateMeta.annotations, 'pod template annotation');
    look(templateMeta.labels, 'pod template label');
  }
  return out;
}
