/**
 * Reading an AdmissionReview body with clear 4xx answers: wrong content type (415), over the size
 * limit (413), not UTF-8 or not JSON or not a v1 review (400). The apiserver treats any of these as a
 * failed call and applies the webhook's failurePolicy.
 */
import type { IncomingMessage } from 'node:http';
import { TracegateError, type ErrorCode } from '../errors.js';
import { parseReview } from '../admission/review.js';
import type { AdmissionRequest } from '../admission/types.js';
import type { Deadlines } from './deadlines.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** True for `application/json` with any parameters (charset), as the apiserver sends it. */
export function isJsonContentType(header: string | undefined): boolean {
  if (!header) return false;
  // What the apiserver sends, answered without splitting the header.
  if (header === 'application/json') return true;
  const type = header.split(';')[0]!.trim().toLowerCase();
  return type === 'application/json';
}

/**
 * Reads the raw body up to `limit` bytes; rejects early on a declared Content-Length over the limit.
 * On a limit or deadline it stops reading but leaves the request open, so the caller can still answer
 * with a clear error (and close the connection); destroying the request would reset the socket and
 * leave the client with no answer at all.
 */
export function readBody(req: IncomingMessage, limit: number, deadline: number, deadlines: Deadlines): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    return Promise.reject(new TracegateError('REVIEW_TOO_LARGE', `request body of ${declared} bytes exceeds the limit of ${limit} bytes`));
  }
  return new Promise<Buffer>((ok, fail) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    // Listeners stay attached once settled: they ignore what comes later, and removing four per review costs.
    const settle = (err: Error | undefined, body?: Buffer) => {
      settled = true;
      deadlines.cancel(timer);
      if (err) {
        // Stop pulling the rest of an unwanted body; the error answer closes the connection.
        req.pause();
        fail(err);
      } else ok(body!);
    };
    // Built only when it settles the read: 'close' fires after every answered review, and an error's stack costs.
    const refuse = (code: ErrorCode, message: string) => {
      if (!settled) settle(new TracegateError(code, message));
    };
    const timer = deadlines.add(deadline, () => refuse('REVIEW_TIMEOUT', 'request body not received within the timeout'));
    req.on('data', (chunk: Buffer) => {
      if (settled) return;
      size += chunk.length;
      if (size > limit) refuse('REVIEW_TOO_LARGE', `request body exceeds the limit of ${limit} bytes`);
      else chunks.push(chunk);
    });
    req.on('end', () => {
      if (!settled) settle(undefined, chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    });
    // A client that goes away is the client's problem, not an internal error of the gate.
    req.on('error', (err: Error) => refuse('REVIEW_MALFORMED', `request body could not be read: ${err.message}`));
    req.on('close', () => refuse('REVIEW_MALFORMED', 'the client closed the connection before the body was complete'));
  });
}

/**
 * V8's JSON errors quote the body around the fault (`Unexpected token 'x', ..."value": "s3cr"...`);
 * the body may hold Secret or env values, and the message goes into the answer and the log.
 */
function jsonErrorWithoutSource(message: string): string {
  return message.replace(/,\s*(\.\.\.)?".*$/s, '');
}

/** Decodes and validates an AdmissionReview from raw bytes. */
export function decodeReview(raw: Buffer): AdmissionRequest {
  let text: string;
  try {
    text = utf8.decode(raw);
  } catch {
    throw new TracegateError('REVIEW_MALFORMED', 'request body is not valid UTF-8');
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    throw new TracegateError('REVIEW_MALFORMED', `request body is not valid JSON: ${jsonErrorWithoutSource((err as Error).message)}`);
  }
  const parsed = parseReview(body);
  if (!parsed.ok) throw new TracegateError('REVIEW_MALFORMED', parsed.error);
  return parsed.value;
}
