/**
 * Reading an AdmissionReview body with clear 4xx answers: wrong content type (415), over the size
 * limit (413), over the shared body budget (429), too slow (408), not UTF-8 or not JSON or not a
 * usable v1 review (400). The apiserver retries a 429 that carries Retry-After; any other 4xx is a
 * failed call and the webhook's failurePolicy applies.
 */
import type { IncomingMessage } from 'node:http';
import { TracegateError, type ErrorCode } from '../errors.js';
import { parseReview } from '../admission/review.js';
import type { AdmissionRequest } from '../admission/types.js';
import { boundText } from '../policy/digest.js';
import type { BodyLease } from './body-budget.js';
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

/** How a body is read: its size limit, its deadline, its share of the memory budget and its rate floor. */
export interface BodyReadOptions {
  /** Largest body accepted (413 beyond). */
  limit: number;
  /** Date.now() by which the whole body must have arrived (408 after). */
  deadline: number;
  deadlines: Deadlines;
  /** This review's reservation in the shared body budget (429 when the body does not fit). */
  lease: BodyLease;
  /** Bytes each further second must bring once `rateGraceMs` have passed (408 below); 0 disables. */
  minBytesPerSecond: number;
  rateGraceMs: number;
}

/** The rate floor is judged over windows of this length: long enough that TCP's burstiness averages out. */
const RATE_WINDOW_MS = 1000;

/**
 * Reads the raw body up to `limit` bytes. Rejects before reading a byte when the declared
 * Content-Length is over the limit (413) or does not fit in the body budget (429); a chunked body
 * reserves its budget chunk by chunk. A body that stops arriving is refused at its deadline, or earlier
 * by the rate floor (408). On any refusal it stops reading but leaves the request open, so the caller
 * can still answer with a clear error (and close the connection); destroying the request would reset
 * the socket and leave the client with no answer at all.
 */
export function readBody(req: IncomingMessage, o: BodyReadOptions): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  const hasLength = Number.isFinite(declared) && req.headers['content-length'] !== undefined;
  if (hasLength && declared > o.limit) {
    return Promise.reject(new TracegateError('REVIEW_TOO_LARGE', `request body of ${declared} bytes exceeds the limit of ${o.limit} bytes`));
  }
  if (hasLength && !o.lease.reserve(declared)) return Promise.reject(busy());
  return new Promise<Buffer>((ok, fail) => {
    let chunks: Buffer[] = [];
    let size = 0;
    let reserved = hasLength ? declared : 0;
    let settled = false;
    // Listeners stay attached once settled: they ignore what comes later, and removing four per review costs.
    const settle = (err: Error | undefined, body?: Buffer) => {
      settled = true;
      o.deadlines.cancel(timer);
      // The chunks are garbage from here on; the closures below outlive the read as long as the connection.
      chunks = [];
      if (err) {
        // Stop pulling the rest of an unwanted body; the error answer closes the connection.
        req.pause();
        fail(err);
      } else ok(body!);
    };
    // Built only when it settles the read: 'close' fires after every answered review, and an error's stack costs.
    const refuse = (code: ErrorCode, message: string) => {
      if (!settled) settle(code === 'GATE_BUSY' ? busy() : new TracegateError(code, message));
    };
    // One deadline entry per review: the rate floor's checks ride on it until the deadline itself.
    let windowStart = -1;
    let windowSize = 0;
    const check = () => {
      if (settled) return;
      const now = Date.now();
      if (now >= o.deadline) return refuse('REVIEW_TIMEOUT', 'request body not received within the timeout');
      if (windowStart >= 0 && size - windowSize < (o.minBytesPerSecond * (now - windowStart)) / 1000) {
        return refuse('REVIEW_TIMEOUT', `request body arrived slower than ${o.minBytesPerSecond} bytes per second`);
      }
      windowStart = now;
      windowSize = size;
      timer = o.deadlines.add(Math.min(o.deadline, now + RATE_WINDOW_MS), check);
    };
    const started = Date.now();
    let timer = o.deadlines.add(o.minBytesPerSecond > 0 ? Math.min(o.deadline, started + o.rateGraceMs) : o.deadline, check);
    req.on('data', (chunk: Buffer) => {
      if (settled) return;
      size += chunk.length;
      if (size > o.limit) return refuse('REVIEW_TOO_LARGE', `request body exceeds the limit of ${o.limit} bytes`);
      if (size > reserved) {
        if (!o.lease.reserve(size - reserved)) return refuse('GATE_BUSY', '');
        reserved = size;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!settled) settle(undefined, chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    });
    // A client that goes away is the client's problem, not an internal error of the gate.
    req.on('error', (err: Error) => refuse('REVIEW_MALFORMED', `request body could not be read: ${boundText(err.message)}`));
    req.on('close', () => refuse('REVIEW_MALFORMED', 'the client closed the connection before the body was complete'));
  });
}

/** The answer when the body budget is full: the apiserver retries a 429 that carries Retry-After. */
function busy(): TracegateError {
  return new TracegateError('GATE_BUSY', 'the gate is reading too many request bodies at once; retry shortly');
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
    // The offending token is quoted, and it may be any character: bounded and escaped like every request value.
    throw new TracegateError('REVIEW_MALFORMED', `request body is not valid JSON: ${boundText(jsonErrorWithoutSource((err as Error).message))}`);
  }
  const parsed = parseReview(body);
  if (!parsed.ok) throw new TracegateError('REVIEW_MALFORMED', parsed.error);
  return parsed.value;
}
