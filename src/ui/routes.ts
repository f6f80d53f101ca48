/**
 * The authenticated pages and what each checks before it reads anything: `/` and `/policies` (some
 * tenant's trails), `/tenants/:tenant` and its exports (the tenant's namespaces where the user may
 * list trails; none → 403), `/workloads/:ns/:kind/:name` (trails in that namespace) and its revisions'
 * manifest and diff (trails and Secrets there). A forbidden URL and an unknown tenant give the same
 * plain 403, so URLs do not reveal which tenants exist.
 */
import type { ServerResponse } from 'node:http';
import { MAX_ROWS } from '../report/query.js';
import { workloadKindByName } from '../workload/kinds.js';
import { createAccess } from './access.js';
import { applyChangeFilter, parseChangeFilter } from './change-filter.js';
import type { ExportMeta } from '../report/export.js';
import type { WorkloadKey } from './data.js';
import { sendBytes, sendHtml } from './http.js';
import { homePage, policiesPage, type VisibleTenant } from './pages/home.js';
import { errorPage } from './pages/layout.js';
import { tenantPage } from './pages/tenant.js';
import { diffPage, manifestPage, workloadPage } from './pages/workload.js';
import { lineDiff } from './line-diff.js';
import type { UserIdentity } from './reviews.js';
import type { UiServerDeps } from './deps.js';

// Kubernetes' name rules (apimachinery validation): namespaces are DNS-1123 labels, object names
// DNS-1123 subdomains, tenants label values. Anything else cannot exist, so it is a 404 before any read.
const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const LABEL_VALUE = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
/** Helm revisions are positive int32s. */
const REVISION = /^[1-9]\d{0,9}$/;


/** The page handlers. */
export function createRoutes(deps: UiServerDeps) {
  const access = createAccess(deps.reviewer);
  const now = deps.now ?? (() => new Date());

  const forbidden = (res: ServerResponse, user: UserIdentity, what: string) =>
    sendHtml(res, 403, errorPage('Forbidden', `You may not see ${what}, or it does not exist.`, user));
  const notFound = (res: ServerResponse, user: UserIdentity, what = 'this page') => sendHtml(res, 404, errorPage('Not found', `There is no ${what}.`, user));

  async function visibleTenants(user: UserIdentity): Promise<VisibleTenant[]> {
    const all = await deps.tenants.tenants();
    const out: VisibleTenant[] = [];
    for (const name of [...all.keys()].sort()) {
      const namespaces = await access.trailNamespaces(user, all.get(name)!);
      if (namespaces.length) out.push({ name, namespaces });
    }
    return out;
  }

  /** The tenant's rows the user may see, filtered; undefined when they may see none of its namespaces. */
  async function tenantRows(user: UserIdentity, tenant: string, params: URLSearchParams) {
    const namespaces = [...((await deps.tenants.tenants()).get(tenant) ?? [])].sort();
    // An unknown tenant is asked about like a tenant of one namespace (its name): the same
    // SubjectAccessReviews either way, so neither the answer nor its timing tells which exist.
    const asked = await access.trailNamespaces(user, namespaces.length ? namespaces : [tenant]);
    const allowed = namespaces.length ? asked : [];
    if (!allowed.length) return undefined;
    const { filter, errors } = parseChangeFilter(params, now());
    // Helm's records only where the user may read them (`get secrets`, as `helm history` needs);
    // elsewhere the rows are the trail's alone, as `tracegate report --trail-only` gives them.
    const manifests = await Promise.all(allowed.map((ns) => access.canReadManifests(user, ns)));
    const helmNamespaces = allowed.filter((_, i) => manifests[i]);
    // The tenant is its namespaces now (the label): every trail in them, whatever tenant it recorded.
    const read = await deps.changes.query({ namespaces: allowed, helmNamespaces, since: filter.since, until: filter.until, limit: MAX_ROWS });
    // The source was asked for these namespaces only; a row from any other is dropped all the same.
    const inScope = read.rows.filter((r) => allowed.includes(r.namespace));
    return { namespaces: allowed, filter, errors, rows: applyChangeFilter(inScope, filter), truncated: read.truncated, ...(read.nextSince ? { nextSince: read.nextSince } : {}) };
  }

  function exportMeta(tenant: string, data: NonNullable<Awaited<ReturnType<typeof tenantRows>>>): ExportMeta {
    return {
      tenant,
      namespaces: data.namespaces,
      since: data.filter.since.toISOString(),
      until: data.filter.until.toISOString(),
      generatedAt: now().toISOString(),
      policyDigest: deps.policies.view().digest,
      ...(data.truncated ? { truncated: true } : {}),
      ...(data.nextSince ? { nextSince: data.nextSince } : {}),
    };
  }

  async function tenant(user: UserIdentity, segs: string[], params: URLSearchParams, res: ServerResponse): Promise<void> {
    const name = segs[1]!;
    if (!LABEL_VALUE.test(name)) return forbidden(res, user, `tenant ${name}`);
    const data = await tenantRows(user, name, params);
    if (!data) return forbidden(res, user, `tenant ${name}`);
    if (segs.length === 2) {
      const violations = await deps.reports.violations(data.namespaces);
      return sendHtml(res, 200, tenantPage(user, { tenant: name, ...data, violations, csvDigest: deps.exporter.digest(deps.exporter.csv(data.rows)) }));
    }
    const format = segs[2] === 'export.csv' ? 'csv' : segs[2] === 'export.json' ? 'json' : undefined;
    if (!format || segs.length !== 3) return notFound(res, user);
    const body = format === 'csv' ? deps.exporter.csv(data.rows) : deps.exporter.json(exportMeta(name, data), data.rows);
    const day = (d: Date) => d.toISOString().slice(0, 10);
    return sendBytes(res, 200, format === 'csv' ? 'text/csv; charset=utf-8' : 'application/json; charset=utf-8', body, {
      'Content-Disposition': `attachment; filename="tracegate-${name}-${day(data.filter.since)}-${day(data.filter.until)}.${format}"`,
      'X-Tracegate-Digest': deps.exporter.digest(body),
    });
  }

  async function workload(user: UserIdentity, segs: string[], res: ServerResponse): Promise<void> {
    const [, namespace, kindName, name] = segs as [string, string, string, string];
    const kind = workloadKindByName(kindName);
    if (!NAMESPACE.test(namespace) || !NAME.test(name) || !kind || !/^[a-z]+$/.test(kindName)) return notFound(res, user, 'such workload');
    const key: WorkloadKey = { namespace, kind: kind.kind, name };
    const what = `the workloads of namespace ${namespace}`;
    if (segs.length === 4) {
      if (!(await access.canReadTrails(user, namespace))) return forbidden(res, user, what);
      const manifests = await access.canReadManifests(user, namespace);
      const trail = await deps.workloads.trail(key, { helm: manifests });
      if (!trail) return notFound(res, user, 'recorded history for this workload');
      return sendHtml(res, 200, workloadPage(user, key, trail, manifests));
    }
    const page = segs[6];
    if (segs.length !== 7 || segs[4] !== 'revisions' || !REVISION.test(segs[5]!) || (page !== 'manifest' && page !== 'diff')) return notFound(res, user);
    if (!(await access.canReadManifests(user, namespace))) return forbidden(res, user, `the manifests of namespace ${namespace}`);
    const revision = Number(segs[5]);
    const found = await deps.workloads.revision(key, revision);
    if (!found) return notFound(res, user, `record of revision ${revision} (Helm may have pruned it)`);
    if (page === 'manifest') return sendHtml(res, 200, manifestPage(user, key, revision, found.manifest));
    const lines = found.previous ? lineDiff(found.previous.manifest, found.manifest) : [];
    return sendHtml(res, 200, diffPage(user, key, revision, found.previous?.revision, lines));
  }

  return {
    /** Answers one GET for an authenticated user. */
    async handle(user: UserIdentity, url: URL, res: ServerResponse): Promise<void> {
      let segs: string[];
      try {
        segs = url.pathname.split('/').slice(1).map(decodeURIComponent);
      } catch {
        return notFound(res, user);
      }
      if (segs.length > 1 && segs.at(-1) === '') segs.pop();
      if (segs.length === 1 && segs[0] === '') return sendHtml(res, 200, homePage(user, await visibleTenants(user)));
      if (segs.length === 1 && segs[0] === 'policies') {
        // Whoever may review some tenant (or every namespace) sees the rules their changes were judged by.
        if (!(await access.canReadTrails(user, '')) && (await visibleTenants(user)).length === 0) return forbidden(res, user, 'the policies');
        return sendHtml(res, 200, policiesPage(user, deps.policies.view()));
      }
      if (segs[0] === 'tenants' && segs.length >= 2 && segs.length <= 3) return tenant(user, segs, url.searchParams, res);
      if (segs[0] === 'workloads' && segs.length >= 4) return workload(user, segs, res);
      return notFound(res, user);
    },
  };
}
