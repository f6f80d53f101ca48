/**
 * The CustomResourceDefinition's own defaulting and registry strategy: `SetDefaults_*` of
 * apiextensions/v1 (singular from the kind, listKind, conversion `None`, webhook port 443) and the
 * strategy's `PrepareForCreate` / `PrepareForUpdate` (apiextensions-apiserver/pkg/registry/
 * customresourcedefinition/strategy.go): the server owns the status, starting with the storage
 * version in `storedVersions`, and a new storage version is added to it on update.
 */
import { isRecord } from '../../../src/k8s/types.js';
import type { JsonObject } from './types.js';

/** The port a conversion webhook service reference defaults to (`SetDefaults_ServiceReference`). */
const DEFAULT_WEBHOOK_PORT = 443;

function child(parent: JsonObject, key: string): JsonObject {
  if (!isRecord(parent[key])) parent[key] = {};
  return parent[key] as JsonObject;
}

function storageVersion(crd: JsonObject): string | undefined {
  const versions = isRecord(crd['spec']) && Array.isArray(crd['spec']['versions']) ? crd['spec']['versions'] : [];
  const storage = versions.find((v) => isRecord(v) && v['storage'] === true);
  return isRecord(storage) && typeof storage['name'] === 'string' ? storage['name'] : undefined;
}

/** `SetDefaults_CustomResourceDefinition` (v1). */
export function defaultCrd(crd: JsonObject): void {
  const spec = child(crd, 'spec');
  const names = child(spec, 'names');
  if (typeof names['kind'] === 'string' && names['kind'] !== '') {
    if (typeof names['singular'] !== 'string' || names['singular'] === '') names['singular'] = names['kind'].toLowerCase();
    if (typeof names['listKind'] !== 'string' || names['listKind'] === '') names['listKind'] = `${names['kind']}List`;
  }
  if (!isRecord(spec['conversion'])) spec['conversion'] = { strategy: 'None' };
  const webhook = (spec['conversion'] as JsonObject)['webhook'];
  const clientConfig = isRecord(webhook) ? webhook['clientConfig'] : undefined;
  if (isRecord(clientConfig) && isRecord(clientConfig['service'])) clientConfig['service']['port'] ??= DEFAULT_WEBHOOK_PORT;
}

/** `PrepareForCreate`: the status starts empty but for the storage version. */
export function prepareCrdCreate(crd: JsonObject): void {
  const version = storageVersion(crd);
  // acceptedNames.plural and .kind are not omitempty: a fresh CRD shows them as "".
  crd['status'] = { acceptedNames: { plural: '', kind: '' }, storedVersions: version === undefined ? [] : [version] };
}

/** `PrepareForUpdate` of the main resource: status is kept (by the caller), a new storage version recorded. */
export function prepareCrdUpdate(crd: JsonObject): void {
  const version = storageVersion(crd);
  if (version === undefined) return;
  const status = child(crd, 'status');
  const stored = Array.isArray(status['storedVersions']) ? status['storedVersions'] : [];
  if (!stored.includes(version)) status['storedVersions'] = [...stored, version];
}
