/**
 * Reads: GET of an object or subresource, and lists with label/field selectors and `limit`/`continue`
 * paging. Lists carry the current resourceVersion, which watches start from.
 */
import type { HandlerDeps, HandlerResult, RequestContext } from './context.js';
import { customScaleOf } from './custom-resources.js';
import { apiVersionOf } from './resources.js';
import type { ResourceInfo } from './resources.js';
import { scaleOf } from './scale.js';
import { parseFieldSelector, parseLabelSelector } from './selectors.js';
import type { ObjectMatcher } from './selectors.js';
import { ApiError, badRequest, expired, notFound } from './status.js';
import { columnsFor, toTable, wantsTable } from './table.js';
import type { JsonObject } from './types.js';

/** GET of one object (or its `/scale` or `/status`). */
export function handleGet(ctx: RequestContext, deps: HandlerDeps): HandlerResult {
  const { info, namespace = '', name = '', subresource } = ctx.route;
  if (subresource !== undefined && !info.subresources.some((s) => s.name === subresource)) {
    throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
  }
  const obj = deps.store.get(info, namespace, name);
  if (obj === undefined) throw notFound(info.resource, info.group, name);
  if (subresource === 'scale') return { status: 200, body: info.custom !== undefined ? customScaleOf(info, obj) : scaleOf(obj) };
  const table = wantsTable(ctx.accept);
  if (table !== undefined) return { status: 200, body: toTable(columnsFor(info), [obj], {}, table, ctx.query.get('includeObject'), deps.now()) };
  return { status: 200, body: obj };
}

/**
 * The combined label + field selector of a list or watch; 400 when either does not parse. A custom
 * resource offers `metadata.name`, `metadata.namespace` when namespaced, and its `selectableFields`
 * (the crdHandler's `ConvertFieldLabel`).
 */
export function selectorOf(query: URLSearchParams, info: ResourceInfo): ObjectMatcher {
  const labels = parseLabelSelector(query.get('labelSelector') ?? '');
  if (!labels.ok) throw badRequest(labels.error);
  const custom = info.custom === undefined ? undefined : { namespaced: info.namespaced, fields: info.custom.selectableFields };
  const fields = parseFieldSelector(query.get('fieldSelector') ?? '', info.kind, custom);
  if (!fields.ok) throw badRequest(fields.error);
  return (obj) => labels.value(obj) && fields.value(obj);
}

interface ContinueToken {
  rv: number;
  offset: number;
}

function decodeContinue(token: string): ContinueToken {
  try {
    const parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as Partial<ContinueToken>;
    if (typeof parsed.rv === 'number' && typeof parsed.offset === 'number') return { rv: parsed.rv, offset: parsed.offset };
  } catch {
    // fall through to the error below
  }
  throw badRequest('continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)');
}

/**
 * A list. Items carry no `kind`/`apiVersion` (as the apiserver's typed lists); paging is by offset
 * over the current state, and a continue token from before a forced compaction is 410 Gone.
 */
export function handleList(ctx: RequestContext, deps: HandlerDeps): HandlerResult {
  const { info, namespace } = ctx.route;
  const matches = selectorOf(ctx.query, info);
  const items = deps.store.list(info, namespace).filter(matches);
  const limitParam = Number(ctx.query.get('limit') ?? '0');
  const limit = Number.isInteger(limitParam) && limitParam > 0 ? limitParam : 0;
  const token = ctx.query.get('continue');
  const start = token === null || token === '' ? { rv: deps.store.currentRv(), offset: 0 } : decodeContinue(token);
  if (start.rv < deps.store.oldestRv()) throw expired(String(start.rv), deps.store.oldestRv());
  const end = limit > 0 ? start.offset + limit : items.length;
  const page = items.slice(start.offset, end);
  const listMeta: JsonObject = { resourceVersion: String(deps.store.currentRv()) };
  if (end < items.length) {
    listMeta['continue'] = Buffer.from(JSON.stringify({ rv: start.rv, offset: end }), 'utf8').toString('base64url');
    listMeta['remainingItemCount'] = items.length - end;
  }
  const table = wantsTable(ctx.accept);
  if (table !== undefined) return { status: 200, body: toTable(columnsFor(info), page, listMeta, table, ctx.query.get('includeObject'), deps.now()) };
  // Unstructured lists of custom resources keep each item's kind and apiVersion; typed lists do not.
  if (info.custom === undefined) {
    for (const item of page) {
      delete item['kind'];
      delete item['apiVersion'];
    }
  }
  const listKind = info.custom?.listKind ?? `${info.kind}List`;
  return { status: 200, body: { kind: listKind, apiVersion: apiVersionOf(info), metadata: listMeta, items: page } };
}
