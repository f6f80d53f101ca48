/** Signed approvals and CI identity tokens: what the gate, the CLI and the recorder use. */
export { APPROVAL_ALGS, APPROVAL_ANNOTATION_NAME, CI_TOKEN_ANNOTATION_NAME, APPROVAL_TYP, CLOCK_SKEW_SECONDS, DEFAULT_APPROVAL_AUDIENCE, DEFAULT_MAX_LIFETIME_SECONDS, formatDuration, formatInstant, parseDuration } from './statement.js';
export type { ApprovalAlg, ApprovalBindingClaim, ApprovalClaims, ApprovalExpectation, ApprovalStatement, VerifyResult } from './statement.js';
export { approvalExpectationOf, approvalImages, approvalTemplateDigest, approvalTemplateView } from './template-digest.js';
export { ALL_TENANTS, loadTrustedKeyFiles, loadTrustedKeys } from './keys.js';
export type { TrustedKey, TrustedKeys, TrustedKeysConfig } from './keys.js';
export { approvalTimeReason, tokenDigest, verifyApproval, verifyApprovalStatic } from './verify-approval.js';
export { loadCiIssuerFiles, loadCiIssuers, repositoryGlob } from './ci-issuers.js';
export type { CiIssuer, CiIssuerConfig, CiIssuers } from './ci-issuers.js';
export type { CiIdentity } from './ci-claims.js';
export { CI_TOKEN_ALGS, ciTokenTimeReason, verifyCiToken, verifyCiTokenStatic } from './verify-ci-token.js';
export type { CiExpectation, CiStatement } from './verify-ci-token.js';
export { DEFAULT_CACHE_ENTRIES, createApprovalVerifier, createCiTokenVerifier, createLruCache } from './cache.js';
export type { ApprovalVerifier, CacheStats, CiTokenVerifier, LruCache } from './cache.js';
export { approvalClaims, readSigningKey, signApproval } from './sign.js';
export type { ApprovalRequest, SigningKey } from './sign.js';
export { SHARED_KEYS_FILE, loadApprovalKeyPath, loadCiIssuerPath } from './trust-files.js';
export type { ApprovalTrustOptions } from './trust-files.js';
