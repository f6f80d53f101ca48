/**
 * Pod validation (pkg/apis/core/validation/validation.go): `ValidatePodCreate` (no ephemeral
 * containers on create), `ValidatePodUpdate` (only container images, activeDeadlineSeconds, added
 * tolerations, removed scheduling gates and a negative grace period set to 1 may change; everything
 * else in the spec, ephemeral containers included, is forbidden) and
 * `ValidatePodEphemeralContainersUpdate` (the `ephemeralcontainers` subresource may only add
 * ephemeral containers, which must name an existing target container and leave out what ephemeral
 * containers cannot have).
 */
import { isDeepStrictEqual } from 'node:util';
import { isRecord } from '../../../src/k8s/types.js';
import type { JsonObject } from './types.js';
import { containersIn, forbidden, invalidValue, validatePodSpec } from './validation-common.js';
import type { FieldError } from './validation-common.js';

/** `updatablePodSpecFields`, joined with `,` in the Forbidden message. */
const UPDATABLE_POD_SPEC_FIELDS = [
  '`spec.containers[*].image`',
  '`spec.initContainers[*].image`',
  '`spec.activeDeadlineSeconds`',
  '`spec.tolerations` (only additions to existing tolerations)',
  '`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)',
];
/** `math.MaxInt32`, the upper bound of activeDeadlineSeconds. */
const MAX_INT32 = 2147483647;
/** Fields `validateEphemeralContainers` forbids, with their JSON names. */
const EPHEMERAL_FORBIDDEN = ['ports', 'livenessProbe', 'readinessProbe', 'startupProbe', 'lifecycle', 'resizePolicy'];

function rec(value: unknown): JsonObject {
  return isRecord(value) ? value : {};
}

/** Ephemeral container checks of `validateEphemeralContainers` (names, images, target, forbidden fields). */
function validateEphemeralContainers(spec: JsonObject): FieldError[] {
  const errors: FieldError[] = [];
  const targets = new Set([...containersIn(spec, 'containers'), ...containersIn(spec, 'initContainers')].map((c) => c['name']));
  containersIn(spec, 'ephemeralContainers').forEach((c, i) => {
    const path = `spec.ephemeralContainers[${i}]`;
    for (const f of EPHEMERAL_FORBIDDEN) if (c[f] !== undefined) errors.push(forbidden(`${path}.${f}`, 'cannot be set for an Ephemeral Container'));
    const resources = rec(c['resources']);
    if (Object.keys(rec(resources['limits'])).length + Object.keys(rec(resources['requests'])).length > 0) {
      errors.push(forbidden(`${path}.resources`, 'cannot be set for an Ephemeral Container'));
    }
    const target = c['targetContainerName'];
    if (typeof target === 'string' && target !== '' && !targets.has(target)) errors.push({ field: `${path}.targetContainerName`, message: `Not found: ${JSON.stringify(target)}` });
  });
  return errors;
}

/** A Pod on create. */
export function validatePodCreate(pod: JsonObject): FieldError[] {
  const spec = rec(pod['spec']);
  const errors = validatePodSpec(spec, 'spec');
  if (containersIn(spec, 'ephemeralContainers').length > 0) errors.push(forbidden('spec.ephemeralContainers', 'cannot be set on create'));
  return errors;
}

function validateOnlyAddedTolerations(next: unknown, prev: unknown): FieldError[] {
  const now = Array.isArray(next) ? next : [];
  for (const old of Array.isArray(prev) ? prev : []) {
    const found = now.some((t) => isRecord(t) && isDeepStrictEqual({ ...rec(old), tolerationSeconds: t['tolerationSeconds'] }, { ...t, tolerationSeconds: t['tolerationSeconds'] }));
    if (!found) return [forbidden('spec.tolerations', 'existing toleration can not be modified except its tolerationSeconds')];
  }
  return [];
}

/** Top-level spec fields that differ, for the Forbidden message's diff. */
function specDiff(old: JsonObject, munged: JsonObject): string {
  const keys = [...new Set([...Object.keys(old), ...Object.keys(munged)])].filter((k) => !isDeepStrictEqual(old[k], munged[k])).sort();
  // The apiserver appends a cmp.Diff of the internal PodSpec; this lists the fields that differ instead.
  return `  core.PodSpec{\n${keys.map((k) => `- \t${k}: ${JSON.stringify(old[k] ?? null)},\n+ \t${k}: ${JSON.stringify(munged[k] ?? null)},\n`).join('')}  }\n`;
}

/** A Pod update through the main resource (also run for `status`, whose spec never changes). */
export function validatePodUpdate(pod: JsonObject, old: JsonObject): FieldError[] {
  const spec = rec(pod['spec']);
  const oldSpec = rec(old['spec']);
  const errors = validatePodSpec(spec, 'spec');
  for (const list of ['containers', 'initContainers']) {
    if (containersIn(spec, list).length !== containersIn(oldSpec, list).length) return [...errors, forbidden(`spec.${list}`, 'pod updates may not add or remove containers')];
  }
  const deadline = spec['activeDeadlineSeconds'];
  const oldDeadline = oldSpec['activeDeadlineSeconds'];
  if (typeof deadline === 'number') {
    if (deadline < 0 || deadline > MAX_INT32) return [...errors, invalidValue('spec.activeDeadlineSeconds', String(deadline), `must be between 0 and ${MAX_INT32}, inclusive`)];
    if (typeof oldDeadline === 'number' && oldDeadline < deadline) return [...errors, invalidValue('spec.activeDeadlineSeconds', String(deadline), 'must be less than or equal to previous value')];
  } else if (typeof oldDeadline === 'number') {
    errors.push(invalidValue('spec.activeDeadlineSeconds', 'null', 'must not update from a positive integer to nil value'));
  }
  errors.push(...validateOnlyAddedTolerations(spec['tolerations'], oldSpec['tolerations']));
  // validateOnlyDeletedSchedulingGates: gates may only be removed.
  const oldGates = new Set(containersIn(oldSpec, 'schedulingGates').map((g) => g['name']));
  for (const gate of containersIn(spec, 'schedulingGates')) {
    if (!oldGates.has(gate['name'])) errors.push(forbidden('spec.schedulingGates', `only deletion is allowed, but found new scheduling gate '${String(gate['name'])}'`));
  }
  if (isDeepStrictEqual(spec, oldSpec)) return errors;
  const munged = structuredClone(spec);
  for (const list of ['containers', 'initContainers']) {
    const oldList = containersIn(oldSpec, list);
    containersIn(munged, list).forEach((c, i) => (c['image'] = oldList[i]?.['image']));
  }
  for (const k of ['activeDeadlineSeconds', 'tolerations', 'schedulingGates']) {
    if (oldSpec[k] === undefined) delete munged[k];
    else munged[k] = structuredClone(oldSpec[k]);
  }
  const oldGrace = oldSpec['terminationGracePeriodSeconds'];
  if (typeof oldGrace === 'number' && oldGrace < 0 && munged['terminationGracePeriodSeconds'] === 1) munged['terminationGracePeriodSeconds'] = oldGrace;
  if (!isDeepStrictEqual(munged, oldSpec)) {
    errors.push(forbidden('spec', `pod updates may not change fields other than ${UPDATABLE_POD_SPEC_FIELDS.join(',')}\n${specDiff(oldSpec, munged)}`));
  }
  return errors;
}

/** A write through `pods/<name>/ephemeralcontainers`: existing ephemeral containers stay as they are. */
export function validateEphemeralUpdate(pod: JsonObject, old: JsonObject): FieldError[] {
  const spec = rec(pod['spec']);
  const errors = [...validatePodSpec(spec, 'spec'), ...validateEphemeralContainers(spec)];
  const now = new Map(containersIn(spec, 'ephemeralContainers').map((c) => [c['name'], c]));
  for (const prev of containersIn(rec(old['spec']), 'ephemeralContainers')) {
    const name = JSON.stringify(prev['name']);
    const current = now.get(prev['name']);
    if (current === undefined) errors.push(forbidden('spec.ephemeralContainers', `existing ephemeral containers ${name} may not be removed\n`));
    else if (!isDeepStrictEqual(current, prev)) errors.push(forbidden('spec.ephemeralContainers', `existing ephemeral containers ${name} may not be changed\n`));
  }
  return errors;
}
