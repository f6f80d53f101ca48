/**
 * Reading request bodies and writing JSON, Status errors and `Warning` headers the way kube-apiserver
 * does on the wire.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ApiError } from './status.js';
import type { JsonObject } from './types.js';

/** kube-apiserver's `MaxRequestBodyBytes` (3 MiB). */
export const MAX_BODY_BYTES = 3 * 1024 * 1024;
/** Warning code 299 ("miscellaneous persistent warning") is the only one the apiserver sends. */
const WARNING_CODE = 299;
/** Beyond 4096 runes in total the apiserver truncates each warning to 256 runes and drops the rest. */
const WARNING_TOTAL_RUNES = 4096;
const WARNING_TRUNCATED_RUNES = 256;

/** Reads the whole body; 413 past {@link MAX_BODY_BYTES}. */
export async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    // limitedReadBody: errors.NewRequestEntityTooLargeError(fmt.Sprintf("limit is %d", limit)).
    // The rest of the body is never read, so the connection cannot carry another request: it is closed, as Go's server does.
    if (size > MAX_BODY_BYTES) throw new ApiError(413, 'RequestEntityTooLarge', `Request entity too large: limit is ${MAX_BODY_BYTES}`, undefined, { Connection: 'close' });
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** The media type without parameters, lower-cased (`application/json`). */
export function mediaType(header: string | undefined): string {
  return (header ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

/**
 * Filters warnings as the apiserver does: drops texts with control characters, de-duplicates, and
 * truncates when the total is large. Returns `Warning` header values (`299 - "<text>"`, with `"` and
 * `\` escaped, UTF-8 bytes carried as latin1 so Node accepts them unchanged).
 */
export function warningHeaders(warnings: readonly string[]): string[] {
  const valid = [...new Set(warnings)].filter((w) => w !== '' && !/[\u0000-\u001f\u007f-\u009f]/.test(w));
  const total = valid.reduce((n, w) => n + [...w].length, 0);
  const kept = total > WARNING_TOTAL_RUNES ? truncateAll(valid) : valid;
  return kept.map((w) => {
    const quoted = `"${w.replace(/["\\]/g, (c) => `\\${c}`)}"`;
    return Buffer.from(`${WARNING_CODE} - ${quoted}`, 'utf8').toString('latin1');
  });
}

function truncateAll(warnings: string[]): string[] {
  const out: string[] = [];
  let total = 0;
  for (const w of warnings) {
    const runes = [...w].slice(0, WARNING_TRUNCATED_RUNES);
    if (total + runes.length > WARNING_TOTAL_RUNES) break;
    total += runes.length;
    out.push(runes.join(''));
  }
  return out;
}

/** Writes a JSON response with optional warnings and extra headers. */
export function sendJson(res: ServerResponse, status: number, body: unknown, warnings: readonly string[] = [], headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const payload = Buffer.from(JSON.stringify(body), 'utf8');
  const warn = warningHeaders(warnings);
  if (warn.length > 0) res.setHeader('Warning', warn);
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': String(payload.length), 'Cache-Control': 'no-cache, private' });
  res.end(payload);
}

/** Writes an {@link ApiError} as a Status response. */
export function sendError(res: ServerResponse, err: ApiError, warnings: readonly string[] = []): void {
  sendJson(res, err.code, err.toStatus(), warnings, err.headers);
}

/** Writes plain text (health endpoints). */
export function sendText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8' });
  res.end(text);
}

/** A `Status` of success, as DELETE of most resources answers. */
export function successStatus(details: JsonObject): JsonObject {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details };
}
