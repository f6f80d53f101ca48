/**
 * What the Service REST storage does around the strategy (pkg/registry/core/service/storage:
 * `beginCreate` / `beginUpdate`): allocate a ClusterIP from the service CIDR and node ports from the
 * node-port range, set the IP-family fields (single-stack IPv4 cluster), and on update keep the
 * allocated values a client left out (`patchAllocatedValues`, `NormalizeClusterIPs`), so
 * `kubectl replace` and a PUT that never saw the ClusterIP do not try to change it.
 */
import { isRecord } from '../../../src/k8s/types.js';
import type { JsonObject } from './types.js';

/** kubeadm's default `--service-cluster-ip-range`: 10.96.0.0/12; the first address is the `kubernetes` Service's. */
const CIDR_BASE = [10, 96, 0, 0];
const CIDR_SIZE = 2 ** 20;
/** The default `--service-node-port-range`. */
const NODE_PORT_MIN = 30000;
const NODE_PORT_MAX = 32767;

function spec(svc: JsonObject): JsonObject {
  if (!isRecord(svc['spec'])) svc['spec'] = {};
  return svc['spec'] as JsonObject;
}

function ports(s: JsonObject): JsonObject[] {
  return Array.isArray(s['ports']) ? s['ports'].filter(isRecord) : [];
}

function ipAt(offset: number): string {
  const n = ((CIDR_BASE[0] ?? 0) << 24) + ((CIDR_BASE[1] ?? 0) << 16) + offset;
  return [24, 16, 8, 0].map((shift) => (n >>> shift) & 255).join('.');
}

/** A random free value in [min, max] (the allocators pick randomly, not in order). */
function pick(min: number, max: number, used: Set<string>, render: (n: number) => string): string {
  for (;;) {
    const candidate = render(min + Math.floor(Math.random() * (max - min + 1)));
    if (!used.has(candidate)) return candidate;
  }
}

/** Allocates on create: ClusterIP (unless `None` or ExternalName), IP families, node ports. */
export function allocateService(svc: JsonObject, others: readonly JsonObject[]): void {
  const s = spec(svc);
  if (s['type'] === 'ExternalName') return;
  const usedIps = new Set(others.flatMap((o) => (Array.isArray(spec(o)['clusterIPs']) ? (spec(o)['clusterIPs'] as unknown[]).map(String) : [])));
  const headless = s['clusterIP'] === 'None';
  const selector = isRecord(s['selector']) && Object.keys(s['selector']).length > 0;
  // initIPFamilyFields: headless Services with a selector may be dual-stack, anything else is single-stack here.
  s['ipFamilyPolicy'] ??= headless && selector ? 'RequireDualStack' : 'SingleStack';
  s['ipFamilies'] ??= ['IPv4'];
  if (typeof s['clusterIP'] !== 'string' || s['clusterIP'] === '') {
    const ip = Array.isArray(s['clusterIPs']) && typeof s['clusterIPs'][0] === 'string' ? s['clusterIPs'][0] : pick(2, CIDR_SIZE - 2, usedIps, ipAt);
    s['clusterIP'] = ip;
  }
  s['clusterIPs'] = [s['clusterIP']];
  if (s['type'] !== 'NodePort' && !(s['type'] === 'LoadBalancer' && s['allocateLoadBalancerNodePorts'] !== false)) return;
  const usedPorts = new Set(others.flatMap((o) => ports(spec(o)).map((p) => String(p['nodePort'] ?? ''))));
  for (const p of ports(s)) if (typeof p['nodePort'] !== 'number' || p['nodePort'] === 0) p['nodePort'] = Number(pick(NODE_PORT_MIN, NODE_PORT_MAX, usedPorts, String));
}

/** `patchAllocatedValues`: an update that left out the ClusterIP(s), IP families or node ports keeps the allocated ones. */
export function keepAllocated(svc: JsonObject, old: JsonObject): void {
  const s = spec(svc);
  const o = spec(old);
  if (s['type'] === 'ExternalName' || o['type'] === 'ExternalName') return;
  if ((s['clusterIP'] === undefined || s['clusterIP'] === '') && o['clusterIP'] !== undefined) {
    s['clusterIP'] = o['clusterIP'];
    s['clusterIPs'] = structuredClone(o['clusterIPs']);
  } else if (s['clusterIPs'] === undefined && s['clusterIP'] === o['clusterIP']) {
    s['clusterIPs'] = structuredClone(o['clusterIPs']);
  }
  // NormalizeClusterIPs: a changed clusterIP with untouched clusterIPs means the primary one changed (validation then refuses it).
  const ips = s['clusterIPs'];
  if (typeof s['clusterIP'] === 'string' && s['clusterIP'] !== '' && Array.isArray(ips) && ips.length > 0 && ips[0] !== s['clusterIP'] && JSON.stringify(ips) === JSON.stringify(o['clusterIPs'])) {
    s['clusterIPs'] = [s['clusterIP'], ...ips.slice(1)];
  }
  s['ipFamilyPolicy'] ??= o['ipFamilyPolicy'];
  s['ipFamilies'] ??= structuredClone(o['ipFamilies']);
  if (s['type'] === 'NodePort' || s['type'] === 'LoadBalancer') {
    for (const p of ports(s)) {
      if (typeof p['nodePort'] === 'number' && p['nodePort'] !== 0) continue;
      const before = ports(o).find((q) => q['port'] === p['port'] && (q['protocol'] ?? 'TCP') === (p['protocol'] ?? 'TCP'));
      if (typeof before?.['nodePort'] === 'number') p['nodePort'] = before['nodePort'];
    }
  }
}
