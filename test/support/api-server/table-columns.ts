/**
 * The columns of the apiserver's table printers (`AddHandlers` and `print<Kind>` in
 * pkg/printers/internalversion/printers.go) for the served kinds. The server always prints wide
 * (`TableConvertor` passes `Wide: true`); kubectl hides priority-1 columns unless `-o wide`.
 */
import { isRecord } from '../../../src/k8s/types.js';
import type { Column } from './table-format.js';
import { ageColumn, formatLabels, formatSelector, humanDuration, nameColumn, num, rec, since, templateColumns } from './table-format.js';
import type { JsonObject } from './types.js';

const spec = (o: JsonObject): JsonObject => rec(o['spec']);
const status = (o: JsonObject): JsonObject => rec(o['status']);
const templateSpec = (o: JsonObject): unknown => rec(spec(o)['template'])['spec'];
/** The objects of a list field; `[]` when absent. */
const items = (value: unknown): JsonObject[] => (Array.isArray(value) ? value.filter(isRecord) : []);
const selectorColumn: Column = { name: 'Selector', type: 'string', priority: 1, cell: (o) => formatSelector(spec(o)['selector']) };

/** `printPod`: readiness, the status reason the kubelet's container states give, restarts. */
function podCells(pod: JsonObject, now: Date): { ready: string; reason: string; restarts: string } {
  const podStatus = status(pod);
  // Sidecars (restartable init containers) count as containers.
  const total = items(spec(pod)['containers']).length + items(spec(pod)['initContainers']).filter((c) => c['restartPolicy'] === 'Always').length;
  let reason = String(podStatus['reason'] ?? podStatus['phase'] ?? '');
  const conditions = items(podStatus['conditions']);
  if (conditions.some((c) => c['type'] === 'PodScheduled' && c['reason'] === 'SchedulingGated')) reason = 'SchedulingGated';
  let ready = 0;
  let restarts = 0;
  let lastRestart = '';
  let hasRunning = false;
  const statuses = items(podStatus['containerStatuses']);
  for (const cs of [...statuses].reverse()) {
    restarts += num(cs['restartCount']);
    const finished = rec(rec(cs['lastState'])['terminated'])['finishedAt'];
    if (typeof finished === 'string' && finished > lastRestart) lastRestart = finished;
    const state = rec(cs['state']);
    const waiting = rec(state['waiting']);
    const terminated = isRecord(state['terminated']) ? state['terminated'] : undefined;
    if (typeof waiting['reason'] === 'string' && waiting['reason'] !== '') reason = waiting['reason'];
    else if (terminated !== undefined && typeof terminated['reason'] === 'string' && terminated['reason'] !== '') reason = terminated['reason'];
    else if (terminated !== undefined) reason = num(terminated['signal']) !== 0 ? `Signal:${num(terminated['signal'])}` : `ExitCode:${num(terminated['exitCode'])}`;
    else if (cs['ready'] === true && isRecord(state['running'])) {
      hasRunning = true;
      ready++;
    }
  }
  if (reason === 'Completed' && hasRunning) reason = conditions.some((c) => c['type'] === 'Ready' && c['status'] === 'True') ? 'Running' : 'NotReady';
  if (rec(pod['metadata'])['deletionTimestamp'] !== undefined && !['Succeeded', 'Failed'].includes(String(podStatus['phase']))) reason = 'Terminating';
  const restartText = restarts !== 0 && lastRestart !== '' ? `${restarts} (${since(lastRestart, now)} ago)` : String(restarts);
  return { ready: `${ready}/${total}`, reason, restarts: restartText };
}

function readinessGates(pod: JsonObject): string {
  const gates = items(spec(pod)['readinessGates']);
  if (gates.length === 0) return '<none>';
  const conditions = items(status(pod)['conditions']);
  const met = gates.filter((g) => conditions.find((c) => c['type'] === g['conditionType'])?.['status'] === 'True').length;
  return `${met}/${gates.length}`;
}

function orNone(value: unknown): string {
  return typeof value === 'string' && value !== '' ? value : '<none>';
}

/** `printJob`: Complete / Failed / Suspended / … / Running. */
function jobStatus(job: JsonObject): string {
  const conditions = items(status(job)['conditions']);
  const has = (type: string): boolean => conditions.some((c) => c['type'] === type && c['status'] === 'True');
  if (has('Complete')) return 'Complete';
  if (has('Failed')) return 'Failed';
  if (rec(job['metadata'])['deletionTimestamp'] !== undefined) return 'Terminating';
  if (has('Suspended')) return 'Suspended';
  if (has('FailureTarget')) return 'FailureTarget';
  if (has('SuccessCriteriaMet')) return 'SuccessCriteriaMet';
  return 'Running';
}

function jobCompletions(job: JsonObject): string {
  const succeeded = num(status(job)['succeeded']);
  if (typeof spec(job)['completions'] === 'number') return `${succeeded}/${String(spec(job)['completions'])}`;
  const parallelism = num(spec(job)['parallelism']);
  return parallelism > 1 ? `${succeeded}/1 of ${parallelism}` : `${succeeded}/1`;
}

function jobDuration(job: JsonObject, now: Date): string {
  const start = status(job)['startTime'];
  if (typeof start !== 'string') return '';
  const end = status(job)['completionTime'];
  return humanDuration((typeof end === 'string' ? Date.parse(end) : now.getTime()) - Date.parse(start));
}

/** `printEvent`: first/last seen fall back to eventTime and series, the count to 1. */
function eventTimes(ev: JsonObject, now: Date): { first: string; last: string; count: number } {
  const first = typeof ev['firstTimestamp'] === 'string' ? since(ev['firstTimestamp'], now) : since(ev['eventTime'], now);
  let last = typeof ev['lastTimestamp'] === 'string' ? since(ev['lastTimestamp'], now) : first;
  let count = num(ev['count']);
  if (isRecord(ev['series'])) {
    last = since(ev['series']['lastObservedTime'], now);
    count = num(ev['series']['count']);
  } else if (count === 0) {
    count = 1;
  }
  return { first, last, count };
}

function eventSource(ev: JsonObject): string {
  const source = rec(ev['source']);
  const component = String(source['component'] || ev['reportingComponent'] || '');
  const instance = String(source['host'] || ev['reportingInstance'] || '');
  if (instance === '') return component;
  return `${component}, ${instance}`;
}

function eventObject(ev: JsonObject): string {
  const involved = rec(ev['involvedObject']);
  const kind = String(involved['kind'] ?? '').toLowerCase();
  return typeof involved['name'] === 'string' && involved['name'] !== '' ? `${kind}/${involved['name']}` : kind;
}

/** Per kind, the columns of the apiserver's printers; other kinds get Name and Age. */
export const COLUMNS: Readonly<Record<string, Column[]>> = {
  Pod: [
    nameColumn,
    { name: 'Ready', type: 'string', priority: 0, cell: (o, now) => podCells(o, now).ready },
    { name: 'Status', type: 'string', priority: 0, cell: (o, now) => podCells(o, now).reason },
    { name: 'Restarts', type: 'string', priority: 0, cell: (o, now) => podCells(o, now).restarts },
    ageColumn,
    { name: 'IP', type: 'string', priority: 1, cell: (o) => orNone(items(status(o)['podIPs'])[0]?.['ip']) },
    { name: 'Node', type: 'string', priority: 1, cell: (o) => orNone(spec(o)['nodeName']) },
    { name: 'Nominated Node', type: 'string', priority: 1, cell: (o) => orNone(status(o)['nominatedNodeName']) },
    { name: 'Readiness Gates', type: 'string', priority: 1, cell: readinessGates },
  ],
  Deployment: [
    nameColumn,
    { name: 'Ready', type: 'string', priority: 0, cell: (o) => `${num(status(o)['readyReplicas'])}/${num(spec(o)['replicas'])}` },
    { name: 'Up-to-date', type: 'integer', priority: 0, cell: (o) => num(status(o)['updatedReplicas']) },
    { name: 'Available', type: 'integer', priority: 0, cell: (o) => num(status(o)['availableReplicas']) },
    ageColumn,
    ...templateColumns(templateSpec),
    selectorColumn,
  ],
  ReplicaSet: [
    nameColumn,
    { name: 'Desired', type: 'integer', priority: 0, cell: (o) => num(spec(o)['replicas']) },
    { name: 'Current', type: 'integer', priority: 0, cell: (o) => num(status(o)['replicas']) },
    { name: 'Ready', type: 'integer', priority: 0, cell: (o) => num(status(o)['readyReplicas']) },
    ageColumn,
    ...templateColumns(templateSpec),
    selectorColumn,
  ],
  ReplicationController: [
    nameColumn,
    { name: 'Desired', type: 'integer', priority: 0, cell: (o) => num(spec(o)['replicas']) },
    { name: 'Current', type: 'integer', priority: 0, cell: (o) => num(status(o)['replicas']) },
    { name: 'Ready', type: 'integer', priority: 0, cell: (o) => num(status(o)['readyReplicas']) },
    ageColumn,
    ...templateColumns(templateSpec),
    { name: 'Selector', type: 'string', priority: 1, cell: (o) => formatLabels(spec(o)['selector']) },
  ],
  StatefulSet: [
    nameColumn,
    { name: 'Ready', type: 'string', priority: 0, cell: (o) => `${num(status(o)['readyReplicas'])}/${num(spec(o)['replicas'])}` },
    ageColumn,
    ...templateColumns(templateSpec),
  ],
  DaemonSet: [
    nameColumn,
    { name: 'Desired', type: 'integer', priority: 0, cell: (o) => num(status(o)['desiredNumberScheduled']) },
    { name: 'Current', type: 'integer', priority: 0, cell: (o) => num(status(o)['currentNumberScheduled']) },
    { name: 'Ready', type: 'integer', priority: 0, cell: (o) => num(status(o)['numberReady']) },
    { name: 'Up-to-date', type: 'integer', priority: 0, cell: (o) => num(status(o)['updatedNumberScheduled']) },
    { name: 'Available', type: 'integer', priority: 0, cell: (o) => num(status(o)['numberAvailable']) },
    { name: 'Node Selector', type: 'string', priority: 0, cell: (o) => formatLabels(rec(templateSpec(o))['nodeSelector']) },
    ageColumn,
    ...templateColumns(templateSpec),
    selectorColumn,
  ],
  Job: [
    nameColumn,
    { name: 'Status', type: 'string', priority: 0, cell: jobStatus },
    { name: 'Completions', type: 'string', priority: 0, cell: jobCompletions },
    { name: 'Duration', type: 'string', priority: 0, cell: jobDuration },
    ageColumn,
    ...templateColumns(templateSpec),
    selectorColumn,
  ],
  CronJob: [
    nameColumn,
    { name: 'Schedule', type: 'string', priority: 0, cell: (o) => String(spec(o)['schedule'] ?? '') },
    { name: 'Timezone', type: 'string', priority: 0, cell: (o) => orNone(spec(o)['timeZone']) },
    { name: 'Suspend', type: 'boolean', priority: 0, cell: (o) => (typeof spec(o)['suspend'] === 'boolean' ? (spec(o)['suspend'] ? 'True' : 'False') : '<unset>') },
    { name: 'Active', type: 'integer', priority: 0, cell: (o) => items(status(o)['active']).length },
    { name: 'Last Schedule', type: 'string', priority: 0, cell: (o, now) => (typeof status(o)['lastScheduleTime'] === 'string' ? since(status(o)['lastScheduleTime'], now) : '<none>') },
    ageColumn,
    ...templateColumns((o) => rec(rec(rec(spec(o)['jobTemplate'])['spec'])['template'])['spec']),
    { name: 'Selector', type: 'string', priority: 1, cell: (o) => formatSelector(rec(rec(spec(o)['jobTemplate'])['spec'])['selector']) },
  ],
  Event: [
    { name: 'Last Seen', type: 'string', priority: 0, cell: (o, now) => eventTimes(o, now).last },
    { name: 'Type', type: 'string', priority: 0, cell: (o) => String(o['type'] ?? '') },
    { name: 'Reason', type: 'string', priority: 0, cell: (o) => String(o['reason'] ?? '') },
    { name: 'Object', type: 'string', priority: 0, cell: eventObject },
    { name: 'Subobject', type: 'string', priority: 1, cell: (o) => String(rec(o['involvedObject'])['fieldPath'] ?? '') },
    { name: 'Source', type: 'string', priority: 1, cell: eventSource },
    { name: 'Message', type: 'string', priority: 0, cell: (o) => String(o['message'] ?? '').trim() },
    { name: 'First Seen', type: 'string', priority: 1, cell: (o, now) => eventTimes(o, now).first },
    { name: 'Count', type: 'string', priority: 1, cell: (o, now) => eventTimes(o, now).count },
    { name: 'Name', type: 'string', format: 'name', priority: 1, cell: (o) => String(rec(o['metadata'])['name'] ?? '') },
  ],
  Namespace: [nameColumn, { name: 'Status', type: 'string', priority: 0, cell: (o) => String(status(o)['phase'] ?? '') }, ageColumn],
  Secret: [
    nameColumn,
    { name: 'Type', type: 'string', priority: 0, cell: (o) => String(o['type'] ?? '') },
    { name: 'Data', type: 'integer', priority: 0, cell: (o) => Object.keys(rec(o['data'])).length },
    ageColumn,
  ],
  ConfigMap: [nameColumn, { name: 'Data', type: 'integer', priority: 0, cell: (o) => Object.keys(rec(o['data'])).length + Object.keys(rec(o['binaryData'])).length }, ageColumn],
  Lease: [nameColumn, { name: 'Holder', type: 'string', priority: 0, cell: (o) => String(spec(o)['holderIdentity'] ?? '') }, ageColumn],
  // CRDs use rest.NewDefaultTableConvertor: the name and the creation time in RFC 3339.
  CustomResourceDefinition: [
    nameColumn,
    { name: 'Created At', type: 'date', priority: 0, cell: (o) => (typeof rec(o['metadata'])['creationTimestamp'] === 'string' ? String(rec(o['metadata'])['creationTimestamp']) : '0001-01-01T00:00:00Z') },
  ],
};

/** The columns of a kind without a printer of its own. */
export const DEFAULT_COLUMNS: readonly Column[] = [nameColumn, ageColumn];
