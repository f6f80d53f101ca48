/**
 * The one table of tracegate's error codes. Codes are stable: users grep logs for them and the README
 * links to them, so a code is never renamed or reused. `exit` is the CLI exit status, `http` the status
 * the gate answers with when the error reaches an HTTP edge.
 */
export const errorTable = {
  USAGE: { exit: 2, http: 400, summary: 'invalid command-line usage' },
  CONFIG_INVALID: { exit: 2, http: 500, summary: 'invalid configuration' },
  POLICY_NOT_FOUND: { exit: 2, http: 500, summary: 'policy file or directory not found' },
  POLICY_PARSE: { exit: 2, http: 500, summary: 'policy file is not valid YAML' },
  POLICY_SCHEMA: { exit: 2, http: 500, summary: 'policy file does not match the policy schema' },
  POLICY_INVALID: { exit: 2, http: 500, summary: 'policy file is well-formed but inconsistent' },
  POLICY_DUPLICATE: { exit: 2, http: 500, summary: 'two policies share a name' },
  INPUT_NOT_FOUND: { exit: 2, http: 400, summary: 'input file or directory not found' },
  INPUT_PARSE: { exit: 2, http: 400, summary: 'input document is not valid YAML or JSON' },
  REVIEW_MALFORMED: { exit: 2, http: 400, summary: 'request body is not a usable AdmissionReview' },
  REVIEW_MEDIA_TYPE: { exit: 2, http: 415, summary: 'request body is not application/json' },
  REVIEW_TOO_LARGE: { exit: 2, http: 413, summary: 'request body exceeds the size limit' },
  REVIEW_TIMEOUT: { exit: 2, http: 408, summary: 'request body not received within the timeout' },
  METHOD_NOT_ALLOWED: { exit: 2, http: 405, summary: 'the endpoint does not accept this HTTP method' },
  NOT_FOUND: { exit: 2, http: 404, summary: 'no such endpoint' },
  GATE_INTERNAL: { exit: 1, http: 500, summary: 'internal error in the gate' },
  GATE_BUSY: { exit: 1, http: 429, summary: 'request bodies in flight fill the memory budget of the gate; retry after Retry-After seconds' },
  CERT_INVALID: { exit: 2, http: 500, summary: 'certificate or key cannot be used' },
  CERT_WRITE: { exit: 1, http: 500, summary: 'certificate files cannot be written' },
  LISTEN_FAILED: { exit: 1, http: 500, summary: 'the gate cannot listen on its address and port (in use, or not permitted)' },
  PROVENANCE_KEY: { exit: 2, http: 500, summary: 'the provenance MAC keys are missing or unusable' },
  KUBE_API: { exit: 1, http: 500, summary: 'Kubernetes API call failed' },
  RELEASE_TOO_LARGE: { exit: 1, http: 500, summary: 'a Helm release record would exceed the 1 MiB Secret limit, or the records read for a page or export inflate past the reader\'s limit (8 MiB each, 32 MiB per release)' },
  RELEASE_CORRUPT: { exit: 1, http: 500, summary: 'a Helm release record cannot be decoded' },
  RELEASE_INVALID: { exit: 1, http: 500, summary: 'a Helm release record would not be readable by Helm' },
  RELEASE_NOT_FOUND: { exit: 2, http: 404, summary: 'no such workload, release or revision: nothing recorded' },
  ROLLBACK_REFUSED: { exit: 1, http: 500, summary: 'the API server or an admission webhook refused the rollback; nothing changed' },
  ROLLBACK_MISMATCH: { exit: 1, http: 500, summary: 'after the rollback the live pod template differs from the revision (fields listed); recorded as failed' },
  NO_GOOD_REVISION: { exit: 2, http: 404, summary: 'no earlier revision is both verified and fully rolled out' },
  APPROVAL_INVALID: { exit: 1, http: 403, summary: 'a signed approval or CI token does not verify for this object (the one-line reason names the failed check)' },
  APPROVAL_KEYS: { exit: 2, http: 500, summary: 'the trusted approval keys or CI issuers cannot be loaded (a private key in a JWKS, an unsupported key type, a missing kid)' },
  APPROVAL_SIGNING_KEY: { exit: 2, http: 500, summary: 'the private key given to sign an approval cannot be used (not an unencrypted Ed25519 or P-256 PEM key)' },
  EXPORT_INVALID: { exit: 1, http: 422, summary: 'a change-history export does not match its digest file, or the digest is not signed by a trusted key' },
  EXPORT_WRITE: { exit: 1, http: 500, summary: 'a change-history export or its digest file cannot be written' },
} as const satisfies Record<string, { exit: number; http: number; summary: string }>;

export type ErrorCode = keyof typeof errorTable;

/** An error with a stable code from {@link errorTable}; `details` carries machine-readable context. */
export class TracegateError extends Error {
  readonly code: ErrorCode;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}, options?: ErrorOptions) {
    super(message, options);
    this.name = 'TracegateError';
    this.code = code;
    this.details = Object.freeze({ ...details });
  }

  get exitCode(): number {
    return errorTable[this.code].exit;
  }

  get httpStatus(): number {
    return errorTable[this.code].http;
  }
}

/** True when `err` is a {@link TracegateError}, optionally with the given code. */
export function isTracegateError(err: unknown, code?: ErrorCode): err is TracegateError {
  return err instanceof TracegateError && (code === undefined || err.code === code);
}

/** Result of a pure parser: never throws on user data. */
export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };
