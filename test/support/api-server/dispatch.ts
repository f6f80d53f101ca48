/**
 * Routes a non-watch resource request to its verb handler: the one entry point shared by the HTTP
 * server and the in-process clients of the controller stand-ins.
 */
import type { HandlerDeps, HandlerResult, RequestContext } from './context.js';
import { handleDelete } from './rest-delete.js';
import { handleGet, handleList } from './rest-read.js';
import { handleCreate, handlePatch, handleUpdate } from './rest-write.js';
import { handleReview } from './reviews.js';
import { ApiError } from './status.js';

/** Runs the handler of `ctx.method`; 405 for other methods. */
export async function dispatch(ctx: RequestContext, deps: HandlerDeps): Promise<HandlerResult> {
  const { method, route: r } = ctx;
  if (r.info.review === true) return handleReview(ctx, deps);
  if (method === 'GET') return r.name === undefined ? handleList(ctx, deps) : handleGet(ctx, deps);
  if (method === 'POST') return handleCreate(ctx, deps);
  if (method === 'PUT') return handleUpdate(ctx, deps);
  if (method === 'PATCH') return handlePatch(ctx, deps);
  if (method === 'DELETE') return handleDelete(ctx, deps);
  throw new ApiError(405, 'MethodNotAllowed', `method ${method} is not allowed`);
}
