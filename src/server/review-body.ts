/**
 * Reading an AdmissionReview body with clear 4xx answers: wrong content type (415), over the size
 * limit (413), not UTF-8 or not JSON or not a v1 review (400). The apiserver treats any of these as a
 * failed call and applies the webhook's failurePolicy.
 */
import type { Request } from 'express';
import { TracegateError } from '../errors.js';
import { parseReview } from '../admission/review.js';
import type { AdmissionRequest } from '../admission/types.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** True for `application/json` with any parameters (charset), as the apiserver sends it. */
export function isJsonContentType(header: string | undefined): boolean {
  if (!header) return false;
  const type = header.split(';')[0]!.trim().toLowerCase();
  return type === 'application/json';
}

/** Reads the raw body up to `limit` bytes; rejects early on a declared Content-Length over the limit. */
export async function readBody(req: Request, limit: number, deadline: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    throw new TracegateError('REVIEW_TOO_LARGE', `request body of ${declared} bytes exceeds the limit of ${limit} bytes`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  const remaining = deadline - Date.now();
  const timer = setTimeout(() => req.destroy(new TracegateError('REVIEW_MALFORMED', 'request body not received within the timeout')), Math.max(remaining, 1));
  try {
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > limit) throw new TracegateError('REVIEW_TOO_LARGE', `request body exceeds the limit of ${limit} bytes`);
      chunks.push(chunk);
    }
  } finally {
    clearTimeout(timer);
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
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
    throw new TracegateError('REVIEW_MALFORMED', `request body is not valid JSON: ${(err as Error).message}`);
  }
  const parsed = parseReview(body);
  if (!parsed.ok) throw new TracegateError('REVIEW_MALFORMED', parsed.error);
  return parsed.value;
}
