/**
 * PolicyReports without a cluster: the {@link ReportApi} calls the report store makes, answered from
 * memory with the apiserver's optimistic concurrency (a resourceVersion per write; a stale one is a
 * 409, a missing object a 404, an existing one on create a 409). For the audit's benchmark and tests,
 * which count the writes; `retain: false` keeps only each report's resourceVersion and size, so a
 * benchmark measures the auditor's memory, not the stand-in cluster's.
 */
import type { PolicyReport } from './report.js';
import type { ReportApi } from './report-store.js';

/** One write the API accepted. */
export interface MemoryWrite {
  op: 'create' | 'replace' | 'delete';
  /** Namespace; undefined for the ClusterPolicyReport. */
  namespace: string | undefined;
  name: string;
  /** Bytes of the body as JSON (0 for a delete). */
  bytes: number;
}

/** The in-memory API and what it holds. */
export interface MemoryReportApi {
  api: ReportApi;
  /** Every accepted write, in order. */
  writes: MemoryWrite[];
  /** Whether the CRDs are served (false: every call is a 404, as an apiserver without them answers). */
  served: boolean;
  /** A stored report (retain: true only), as a client would read it. */
  get(namespace: string | undefined, name: string): PolicyReport | undefined;
  /** Keys (`namespace/name`, `/name` for cluster reports) of the stored reports. */
  keys(): string[];
  /** Replaces a stored report behind the store's back (another writer), bumping its resourceVersion. */
  tamper(namespace: string | undefined, name: string, edit: (r: PolicyReport) => void): void;
}

type Params = { plural: string; namespace?: string; name?: string; body?: unknown };

/** An API error as client-node's ApiException carries it: the HTTP status in `code`. */
function apiError(code: number, message: string): Error {
  return Object.assign(new Error(message), { code, body: JSON.stringify({ kind: 'Status', code, message }) });
}

/** Creates an empty in-memory PolicyReport API. */
export function createMemoryReportApi(opts: { retain?: boolean; served?: boolean } = {}): MemoryReportApi {
  const retain = opts.retain ?? true;
  const objects = new Map<string, { rv: string; json?: string }>();
  const writes: MemoryWrite[] = [];
  let rv = 0;
  const self: MemoryReportApi = { api: undefined as unknown as ReportApi, writes, served: opts.served ?? true, get, keys: () => [...objects.keys()], tamper };
  const key = (p: Params, name = p.name ?? '') => `${p.plural === 'clusterpolicyreports' ? '' : (p.namespace ?? '')}/${name}`;

  function check(): void {
    if (!self.served) throw apiError(404, 'the server could not find the requested resource');
  }

  function read(k: string): PolicyReport | undefined {
    const o = objects.get(k);
    if (!o) return undefined;
    const r = (o.json ? JSON.parse(o.json) : { metadata: {} }) as PolicyReport;
    r.metadata = { ...r.metadata, resourceVersion: o.rv };
    return r;
  }

  function get(namespace: string | undefined, name: string): PolicyReport | undefined {
    return read(`${namespace ?? ''}/${name}`);
  }

  function store(p: Params, op: 'create' | 'replace'): PolicyReport {
    check();
    const body = p.body as PolicyReport;
    const name = body.metadata.name;
    const k = key(p, name);
    const existing = objects.get(k);
    if (op === 'create' && existing) throw apiError(409, `policyreports.wgpolicyk8s.io "${name}" already exists`);
    if (op === 'replace' && !existing) throw apiError(404, `policyreports.wgpolicyk8s.io "${name}" not found`);
    if (op === 'replace' && body.metadata.resourceVersion !== existing!.rv) throw apiError(409, `Operation cannot be fulfilled on policyreports.wgpolicyk8s.io "${name}": the object has been modified`);
    const json = JSON.stringify({ ...body, metadata: { ...body.metadata, resourceVersion: undefined } });
    objects.set(k, { rv: String(++rv), ...(retain ? { json } : {}) });
    writes.push({ op, namespace: p.plural === 'clusterpolicyreports' ? undefined : p.namespace, name, bytes: Buffer.byteLength(json) });
    return read(k)!;
  }

  function tamper(namespace: string | undefined, name: string, edit: (r: PolicyReport) => void): void {
    const k = `${namespace ?? ''}/${name}`;
    const r = read(k);
    if (!r) throw new Error(`no report ${k}`);
    edit(r);
    objects.set(k, { rv: String(++rv), json: JSON.stringify(r) });
  }

  const calls = {
    async listClusterCustomObject() {
      check();
      return { items: [] };
    },
    async getNamespacedCustomObject(p: Params) {
      check();
      const r = read(key(p));
      if (!r) throw apiError(404, `policyreports.wgpolicyk8s.io "${p.name}" not found`);
      return r;
    },
    getClusterCustomObject: (p: Params) => calls.getNamespacedCustomObject(p),
    createNamespacedCustomObject: async (p: Params) => store(p, 'create'),
    createClusterCustomObject: async (p: Params) => store(p, 'create'),
    replaceNamespacedCustomObject: async (p: Params) => store(p, 'replace'),
    replaceClusterCustomObject: async (p: Params) => store(p, 'replace'),
    async deleteNamespacedCustomObject(p: Params) {
      check();
      const k = key(p);
      const existing = objects.get(k);
      if (!existing) throw apiError(404, `policyreports.wgpolicyk8s.io "${p.name}" not found`);
      const pre = (p.body as { preconditions?: { resourceVersion?: string } } | undefined)?.preconditions?.resourceVersion;
      if (pre !== undefined && pre !== existing.rv) throw apiError(409, `Operation cannot be fulfilled on policyreports.wgpolicyk8s.io "${p.name}": Precondition failed`);
      objects.delete(k);
      writes.push({ op: 'delete', namespace: p.namespace, name: p.name ?? '', bytes: 0 });
      return { kind: 'Status', status: 'Success' };
    },
  };
  self.api = calls as unknown as ReportApi;
  return self;
}
