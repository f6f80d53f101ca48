/** Webhook TLS: CA + serving certificate issuance, the files they live in, and checks on them. */
export {
  CLOCK_SKEW_MS,
  DEFAULT_CA_VALID_DAYS,
  DEFAULT_SERVING_VALID_DAYS,
  RSA_KEY_BITS,
  defaultKeyPairGenerator,
  issueCa,
  issueServingCert,
  randomSerialHex,
  serviceDnsNames,
} from './issue.js';
export type { IssuedCa, IssuedServing, KeyPairGenerator, RandomBytes } from './issue.js';
export { DEFAULT_RENEW_BEFORE_DAYS, certPaths, ensureDevCerts, readCertSet, readOptionalSet, writeCertSet } from './files.js';
export type { CertPaths, EnsuredCerts } from './files.js';
export { assessCertSet, caBundleBase64, inspectCert, verifyServingPair } from './inspect.js';
export type { CertInfo, CertSetAssessment, CertSetPems } from './inspect.js';
export { DEFAULT_CA_ROLL_BEFORE_DAYS, DEFAULT_PROPAGATION_GRACE_MS, DEFAULT_ROTATION_THRESHOLDS, planRotation, splitBundle } from './rotation-plan.js';
export type { RotationState, RotationStep, RotationThresholds, WebhookTrust } from './rotation-plan.js';
