/**
 * Protobuf schemas of the review kinds kubectl sends (`kubectl auth can-i` a SelfSubjectAccessReview or,
 * with `--list`, a SelfSubjectRulesReview; `kubectl auth whoami` a SelfSubjectReview) and the other
 * review kinds a typed client may send. Field numbers follow k8s.io/api/authorization/v1 and
 * authentication/v1 generated.proto; `extra` maps and selector attributes fail loudly.
 */
import { objectMeta } from './protobuf-types.js';
import type { MessageSchema } from './protobuf-wire.js';

const resourceAttributes: MessageSchema = {
  name: 'ResourceAttributes',
  fields: {
    1: { name: 'namespace', type: 'string' },
    2: { name: 'verb', type: 'string' },
    3: { name: 'group', type: 'string' },
    4: { name: 'version', type: 'string' },
    5: { name: 'resource', type: 'string' },
    6: { name: 'subresource', type: 'string' },
    7: { name: 'name', type: 'string' },
  },
};

const nonResourceAttributes: MessageSchema = { name: 'NonResourceAttributes', fields: { 1: { name: 'path', type: 'string' }, 2: { name: 'verb', type: 'string' } } };

/** SubjectAccessReviewStatus: clients send it empty. */
const accessStatus: MessageSchema = {
  name: 'SubjectAccessReviewStatus',
  fields: { 1: { name: 'allowed', type: 'bool' }, 2: { name: 'reason', type: 'string' }, 3: { name: 'evaluationError', type: 'string' }, 4: { name: 'denied', type: 'bool' } },
};

const subjectAccessReview = (name: string): MessageSchema => ({
  name,
  fields: {
    1: { name: 'metadata', type: () => objectMeta },
    2: {
      name: 'spec',
      type: () => ({
        name: 'SubjectAccessReviewSpec',
        fields: {
          1: { name: 'resourceAttributes', type: () => resourceAttributes },
          2: { name: 'nonResourceAttributes', type: () => nonResourceAttributes },
          3: { name: 'user', type: 'string' },
          4: { name: 'groups', type: 'string', repeated: true },
          6: { name: 'uid', type: 'string' },
        },
      }),
    },
    3: { name: 'status', type: () => accessStatus },
  },
});

const selfSubjectAccessReview: MessageSchema = {
  name: 'SelfSubjectAccessReview',
  fields: {
    1: { name: 'metadata', type: () => objectMeta },
    2: {
      name: 'spec',
      type: () => ({
        name: 'SelfSubjectAccessReviewSpec',
        fields: { 1: { name: 'resourceAttributes', type: () => resourceAttributes }, 2: { name: 'nonResourceAttributes', type: () => nonResourceAttributes } },
      }),
    },
    3: { name: 'status', type: () => accessStatus },
  },
};

const selfSubjectRulesReview: MessageSchema = {
  name: 'SelfSubjectRulesReview',
  fields: {
    1: { name: 'metadata', type: () => objectMeta },
    2: { name: 'spec', type: () => ({ name: 'SelfSubjectRulesReviewSpec', fields: { 1: { name: 'namespace', type: 'string' } } }) },
    // Clients send the status empty, but gogo-protobuf always writes the non-pointer `incomplete`.
    3: { name: 'status', type: () => ({ name: 'SubjectRulesReviewStatus', fields: { 3: { name: 'incomplete', type: 'bool' }, 4: { name: 'evaluationError', type: 'string' } } }) },
  },
};

const userInfo: MessageSchema = { name: 'UserInfo', fields: { 1: { name: 'username', type: 'string' }, 2: { name: 'uid', type: 'string' }, 3: { name: 'groups', type: 'string', repeated: true } } };

const selfSubjectReview: MessageSchema = {
  name: 'SelfSubjectReview',
  fields: {
    1: { name: 'metadata', type: () => objectMeta },
    2: { name: 'status', type: () => ({ name: 'SelfSubjectReviewStatus', fields: { 1: { name: 'userInfo', type: () => userInfo } } }) },
  },
};

const tokenReview: MessageSchema = {
  name: 'TokenReview',
  fields: {
    1: { name: 'metadata', type: () => objectMeta },
    2: { name: 'spec', type: () => ({ name: 'TokenReviewSpec', fields: { 1: { name: 'token', type: 'string' }, 2: { name: 'audiences', type: 'string', repeated: true } } }) },
    3: { name: 'status', type: () => ({ name: 'TokenReviewStatus', fields: { 1: { name: 'authenticated', type: 'bool' }, 3: { name: 'error', type: 'string' }, 4: { name: 'audiences', type: 'string', repeated: true } } }) },
  },
};

export const REVIEW_SCHEMAS: Readonly<Record<string, MessageSchema>> = {
  SubjectAccessReview: subjectAccessReview('SubjectAccessReview'),
  LocalSubjectAccessReview: subjectAccessReview('LocalSubjectAccessReview'),
  SelfSubjectAccessReview: selfSubjectAccessReview,
  SelfSubjectRulesReview: selfSubjectRulesReview,
  SelfSubjectReview: selfSubjectReview,
  TokenReview: tokenReview,
};
