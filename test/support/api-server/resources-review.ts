/**
 * The review APIs (always served, create only, never stored): authentication.k8s.io/v1
 * `tokenreviews` and `selfsubjectreviews`; authorization.k8s.io/v1 `subjectaccessreviews`,
 * `selfsubjectaccessreviews`, `selfsubjectrulesreviews` and the namespaced `localsubjectaccessreviews`
 * (pkg/registry/authentication/*, pkg/registry/authorization/*). `reviews.ts` answers them.
 */
import type { ResourceInfo } from './resources.js';

function review(group: string, resource: string, kind: string, namespaced = false): ResourceInfo {
  return {
    group,
    version: 'v1',
    resource,
    singular: kind.toLowerCase(),
    kind,
    namespaced,
    verbs: ['create'],
    shortNames: [],
    categories: [],
    subresources: [],
    admitted: false,
    persisted: false,
    generation: false,
    createOnUpdate: false,
    review: true,
  };
}

const AUTHN = 'authentication.k8s.io';
const AUTHZ = 'authorization.k8s.io';

/** In discovery order within each group. */
export const REVIEW_RESOURCES: readonly ResourceInfo[] = [
  review(AUTHN, 'selfsubjectreviews', 'SelfSubjectReview'),
  review(AUTHN, 'tokenreviews', 'TokenReview'),
  review(AUTHZ, 'localsubjectaccessreviews', 'LocalSubjectAccessReview', true),
  review(AUTHZ, 'selfsubjectaccessreviews', 'SelfSubjectAccessReview'),
  review(AUTHZ, 'selfsubjectrulesreviews', 'SelfSubjectRulesReview'),
  review(AUTHZ, 'subjectaccessreviews', 'SubjectAccessReview'),
];
