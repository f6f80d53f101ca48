/**
 * The printers of the add-on kinds (`AddHandlers` and `print<Kind>` in
 * pkg/printers/internalversion/printers.go). Roles and ClusterRoles have none: the default table
 * convertor prints their name and creation time.
 */
import { isRecord } from '../../../src/k8s/types.js';
import type { Column } from './table-format.js';
import { ageColumn, formatLabels, formatSelector, nameColumn, num, rec } from './table-format.js';
import type { JsonObject } from './types.js';

const spec = (o: JsonObject): JsonObject => rec(o['spec']);
const list = (v: unknown): JsonObject[] => (Array.isArray(v) ? v.filter(isRecord) : []);

/** `rest.NewDefaultTableConvertor`'s second column. */
const createdAtColumn: Column = {
  name: 'Created At',
  type: 'date',
  priority: 0,
  cell: (o) => (typeof rec(o['metadata'])['creationTimestamp'] === 'string' ? String(rec(o['metadata'])['creationTimestamp']) : '0001-01-01T00:00:00Z'),
};

/** `makePortString`: `80/TCP`, `80:30080/TCP`. */
function servicePorts(o: JsonObject): string {
  const text = list(spec(o)['ports'])
    .map((p) => (num(p['nodePort']) > 0 ? `${num(p['port'])}:${num(p['nodePort'])}/${String(p['protocol'] ?? '')}` : `${num(p['port'])}/${String(p['protocol'] ?? '')}`))
    .join(',');
  return text === '' ? '<none>' : text;
}

/** `getServiceExternalIP` for the types a chart uses (no load-balancer ingress is ever reported here). */
function externalIp(o: JsonObject): string {
  const s = spec(o);
  const ips = Array.isArray(s['externalIPs']) ? s['externalIPs'].map(String) : [];
  if (s['type'] === 'ExternalName') return String(s['externalName'] ?? '');
  if (s['type'] === 'LoadBalancer') return ips.length > 0 ? ips.join(',') : '<pending>';
  return ips.length > 0 ? ips.join(',') : '<none>';
}

function clusterIp(o: JsonObject): string {
  const ips = spec(o)['clusterIPs'];
  return Array.isArray(ips) && ips.length > 0 ? String(ips[0]) : '<none>';
}

/** The subjects of a binding of one kind, as `printRoleBinding` lists them (`ns/name` for service accounts). */
function subjects(kind: string): (o: JsonObject) => string {
  return (o) =>
    list(o['subjects'])
      .filter((s) => s['kind'] === kind)
      .map((s) => (kind === 'ServiceAccount' ? `${String(s['namespace'] ?? '')}/${String(s['name'] ?? '')}` : String(s['name'] ?? '')))
      .join(', ');
}

const bindingColumns: Column[] = [
  nameColumn,
  { name: 'Role', type: 'string', priority: 0, cell: (o) => `${String(rec(o['roleRef'])['kind'] ?? '')}/${String(rec(o['roleRef'])['name'] ?? '')}` },
  ageColumn,
  { name: 'Users', type: 'string', priority: 1, cell: subjects('User') },
  { name: 'Groups', type: 'string', priority: 1, cell: subjects('Group') },
  { name: 'ServiceAccounts', type: 'string', priority: 1, cell: subjects('ServiceAccount') },
];

const webhookColumns: Column[] = [nameColumn, { name: 'Webhooks', type: 'integer', priority: 0, cell: (o) => list(o['webhooks']).length }, ageColumn];

/** An intstr as `IntOrString.String()`, `N/A` when unset. */
function intOrString(v: unknown): string {
  return v === undefined || v === null ? 'N/A' : String(v);
}

/** `printValidatingAdmissionPolicyBinding`'s ParamRef cell. */
function paramRef(o: JsonObject): string {
  const ref = spec(o)['paramRef'];
  if (!isRecord(ref)) return '<unset>';
  const name = typeof ref['name'] === 'string' && ref['name'] !== '' ? ref['name'] : '*';
  return typeof ref['namespace'] === 'string' && ref['namespace'] !== '' ? `${ref['namespace']}/${name}` : name;
}

/** The add-on kinds' columns by kind. */
export const ADDON_COLUMNS: Readonly<Record<string, readonly Column[]>> = {
  ServiceAccount: [nameColumn, { name: 'Secrets', type: 'string', priority: 0, cell: (o) => list(o['secrets']).length }, ageColumn],
  Service: [
    nameColumn,
    { name: 'Type', type: 'string', priority: 0, cell: (o) => String(spec(o)['type'] ?? '') },
    { name: 'Cluster-IP', type: 'string', priority: 0, cell: (o) => clusterIp(o) },
    { name: 'External-IP', type: 'string', priority: 0, cell: externalIp },
    { name: 'Port(s)', type: 'string', priority: 0, cell: servicePorts },
    ageColumn,
    { name: 'Selector', type: 'string', priority: 1, cell: (o) => formatLabels(spec(o)['selector']) },
  ],
  Role: [nameColumn, createdAtColumn],
  ClusterRole: [nameColumn, createdAtColumn],
  RoleBinding: bindingColumns,
  ClusterRoleBinding: bindingColumns,
  ValidatingWebhookConfiguration: webhookColumns,
  MutatingWebhookConfiguration: webhookColumns,
  ValidatingAdmissionPolicy: [
    nameColumn,
    { name: 'Validations', type: 'integer', priority: 0, cell: (o) => list(spec(o)['validations']).length },
    { name: 'ParamKind', type: 'string', priority: 0, cell: (o) => (isRecord(spec(o)['paramKind']) ? `${String(rec(spec(o)['paramKind'])['apiVersion'] ?? '')}/${String(rec(spec(o)['paramKind'])['kind'] ?? '')}` : '<unset>') },
    ageColumn,
  ],
  ValidatingAdmissionPolicyBinding: [nameColumn, { name: 'PolicyName', type: 'string', priority: 0, cell: (o) => String(spec(o)['policyName'] ?? '') }, { name: 'ParamRef', type: 'string', priority: 0, cell: paramRef }, ageColumn],
  PodDisruptionBudget: [
    nameColumn,
    { name: 'Min Available', type: 'string', priority: 0, cell: (o) => intOrString(spec(o)['minAvailable']) },
    { name: 'Max Unavailable', type: 'string', priority: 0, cell: (o) => intOrString(spec(o)['maxUnavailable']) },
    { name: 'Allowed Disruptions', type: 'integer', priority: 0, cell: (o) => num(rec(o['status'])['disruptionsAllowed']) },
    ageColumn,
  ],
  NetworkPolicy: [nameColumn, { name: 'Pod-Selector', type: 'string', priority: 0, cell: (o) => formatSelector(spec(o)['podSelector']) }, ageColumn],
  PriorityClass: [
    nameColumn,
    { name: 'Value', type: 'integer', priority: 0, cell: (o) => num(o['value']) },
    { name: 'Global-Default', type: 'boolean', priority: 0, cell: (o) => o['globalDefault'] === true },
    ageColumn,
    { name: 'PreemptionPolicy', type: 'string', priority: 0, cell: (o) => String(o['preemptionPolicy'] ?? '') },
  ],
  FlowSchema: [
    nameColumn,
    { name: 'PriorityLevel', type: 'string', priority: 0, cell: (o) => String(rec(spec(o)['priorityLevelConfiguration'])['name'] ?? '') },
    { name: 'MatchingPrecedence', type: 'string', priority: 0, cell: (o) => num(spec(o)['matchingPrecedence']) },
    { name: 'DistinguisherMethod', type: 'string', priority: 0, cell: (o) => (isRecord(spec(o)['distinguisherMethod']) ? String(rec(spec(o)['distinguisherMethod'])['type'] ?? '') : '<none>') },
    ageColumn,
    // printFlowSchema: the Dangling condition's status, `?` until the config controller has written it.
    { name: 'MissingPL', type: 'string', priority: 0, cell: (o) => String(list(rec(o['status'])['conditions']).find((c) => c['type'] === 'Dangling')?.['status'] ?? '?') },
  ],
  PriorityLevelConfiguration: [
    nameColumn,
    { name: 'Type', type: 'string', priority: 0, cell: (o) => String(spec(o)['type'] ?? '') },
    { name: 'NominalConcurrencyShares', type: 'string', priority: 0, cell: (o) => (isRecord(spec(o)['limited']) ? num(rec(spec(o)['limited'])['nominalConcurrencyShares']) : '<none>') },
    ...(['queues', 'handSize', 'queueLengthLimit'] as const).map(
      (k): Column => ({
        name: k === 'queues' ? 'Queues' : k === 'handSize' ? 'HandSize' : 'QueueLengthLimit',
        type: 'string',
        priority: 0,
        cell: (o) => {
          const queuing = rec(rec(rec(spec(o)['limited'])['limitResponse'])['queuing']);
          return typeof queuing[k] === 'number' ? queuing[k] : '<none>';
        },
      }),
    ),
    ageColumn,
  ],
};
