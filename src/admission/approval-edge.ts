/**
 * The edge of verified provenance: before a review is judged, the signed approval and the CI identity
 * token the object carries are verified (signature checks are CPU and asynchronous; the verifiers keep
 * what they verified, so a re-applied manifest costs a lookup) and handed to the pure handlers as a
 * verdict in the RequestContext. A review carrying neither is judged synchronously, as before.
 */
import type { ApprovalVerifier, CiTokenVerifier } from '../approval/cache.js';
import type { ApprovalExpectation } from '../approval/statement.js';
import { approvalImages, approvalTemplateDigest } from '../approval/template-digest.js';
import type { ApprovalEvidence, Verified } from '../policy/types.js';
import { isWorkloadKind } from '../workload/pod-template.js';
import type { TracegateKeys } from './annotations.js';
import type { AdmissionRequest } from './types.js';
import type { Handled } from './validate.js';

/** What the edge needs: the trust (absent when the gate was started without it) and the tenancy. */
export interface ApprovalEdgeDeps {
  keys: TracegateKeys;
  prefix: string;
  tenantOf: (namespace: string) => string | undefined;
  /** Verifies approvals with the tenants' trusted keys; absent: no `--approval-keys`. */
  approvals?: ApprovalVerifier;
  /** Verifies CI tokens with the configured issuers; absent: no `--ci-issuers`. */
  ciTokens?: CiTokenVerifier;
  /** Milliseconds since the epoch (tests pin it). */
  now?: () => number;
}

/** The evidence of one request: undefined when it carries nothing to verify (judged synchronously). */
export type EvidenceSource = (request: AdmissionRequest) => Promise<ApprovalEvidence> | undefined;

/** A handler that reads the verified evidence. */
export type EvidenceHandler = (request: AdmissionRequest, evidence?: ApprovalEvidence) => Handled;

/** What the approval must bind: the reviewed object as the apiserver names it (a CREATE's object may omit its namespace). */
function expectationOf(request: AdmissionRequest, tenant: string, prefix: string): ApprovalExpectation {
  const obj = request.object!;
  return {
    tenant,
    namespace: request.namespace ?? obj.metadata?.namespace ?? '',
    kind: request.kind.kind,
    name: request.name ?? obj.metadata?.name ?? '',
    template: approvalTemplateDigest(obj, prefix),
    images: approvalImages(obj),
  };
}

/** A verifier that threw (a bug, never a verdict): refused with a reason, so the change fails closed. */
async function settled<T>(what: string, run: () => Promise<Verified<T>>): Promise<Verified<T>> {
  try {
    return await run();
  } catch {
    return { ok: false, reason: `${what} could not be verified` };
  }
}

/** Creates the evidence source of the gate's webhooks (see the module comment). */
export function createApprovalEdge(deps: ApprovalEdgeDeps): EvidenceSource {
  const { keys: k } = deps;
  return function evidenceOf(request) {
    const obj = request.object;
    if ((request.operation !== 'CREATE' && request.operation !== 'UPDATE') || request.subResource || !obj || !isWorkloadKind(request.kind.kind)) return undefined;
    const annotations = obj.metadata?.annotations;
    const jws = annotations?.[k.approval];
    const jwt = annotations?.[k.ciToken];
    if (jws === undefined && jwt === undefined) return undefined;
    return (async () => {
      const tenant = deps.tenantOf(request.namespace ?? '') ?? '';
      const now = deps.now?.() ?? Date.now();
      const { approvals, ciTokens } = deps;
      const [approval, ciToken] = await Promise.all([
        jws === undefined
          ? undefined
          : approvals
            ? settled('approval', () => approvals.verify(jws.trim(), expectationOf(request, tenant, deps.prefix), now))
            : ({ ok: false, reason: 'this gate trusts no approval keys (tracegate serve --approval-keys)' } as const),
        jwt === undefined
          ? undefined
          : ciTokens
            ? settled('CI token', () => ciTokens.verify(jwt.trim(), { tenant }, now))
            : ({ ok: false, reason: 'this gate trusts no CI issuers (tracegate serve --ci-issuers)' } as const),
      ]);
      return { ...(approval ? { approval } : {}), ...(ciToken ? { ciToken } : {}) };
    })();
  };
}

/**
 * A webhook handler that first gathers the evidence: synchronous when there is none to verify, a
 * promise otherwise (the HTTP layer awaits either).
 */
export function withEvidence(source: EvidenceSource, handler: EvidenceHandler): (request: AdmissionRequest) => Handled | Promise<Handled> {
  return (request) => {
    const pending = source(request);
    return pending === undefined ? handler(request) : pending.then((evidence) => handler(request, evidence));
  };
}
