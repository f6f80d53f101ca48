/**
 * The parts of a one-line reason that approvals and CI tokens share: values from a token shown bounded
 * and without control characters (a kid or a claim can be anything before the signature is checked),
 * and the validity window (exp, nbf, iat) with the clock skew. Pure.
 */
import { boundText } from '../policy/digest.js';
import { CLOCK_SKEW_SECONDS, formatInstant } from './statement.js';

/** How much of a token-supplied value a reason shows: enough to recognise it, never a payload. */
const SHOWN_CHARS = 64;

/** A token-supplied value for a reason: at most 64 characters, controls escaped, non-strings described. */
export function quoteText(value: unknown): string {
  return boundText(value, SHOWN_CHARS);
}

/** The times of a JWT, in seconds since the epoch. */
export interface ValidityWindow {
  iat: number;
  exp: number;
  nbf?: number | undefined;
}

/**
 * Undefined when `nowSeconds` lies in the window (with {@link CLOCK_SKEW_SECONDS} either side), else
 * the reason: `approval expired at 2026-12-01T10:00:00Z`. `what` names the token (`approval`, `CI token`).
 */
export function windowReason(what: string, w: ValidityWindow, nowSeconds: number): string | undefined {
  if (nowSeconds >= w.exp + CLOCK_SKEW_SECONDS) return `${what} expired at ${formatInstant(w.exp)}`;
  if (w.nbf !== undefined && nowSeconds + CLOCK_SKEW_SECONDS < w.nbf) return `${what} is not valid before ${formatInstant(w.nbf)}`;
  if (nowSeconds + CLOCK_SKEW_SECONDS < w.iat) return `${what} was issued in the future (${formatInstant(w.iat)})`;
  return undefined;
}
