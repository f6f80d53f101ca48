/**
 * Protobuf schemas of the workload kinds kubectl sends as protobuf (`kubectl create job` and
 * `create job --from=cronjob/…` send a Job, `kubectl create cronjob` a CronJob). Field numbers follow
 * `k8s.io/api/batch/v1/generated.proto`; fields no client here sends are left out and fail loudly.
 */
import type { MessageSchema } from './protobuf-wire.js';
import { labelSelector, objectMeta, podTemplateSpec } from './protobuf-types.js';

const jobSpec: MessageSchema = {
  name: 'JobSpec',
  fields: {
    1: { name: 'parallelism', type: 'int', pointer: true },
    2: { name: 'completions', type: 'int', pointer: true },
    3: { name: 'activeDeadlineSeconds', type: 'int', pointer: true },
    4: { name: 'selector', type: () => labelSelector },
    5: { name: 'manualSelector', type: 'bool', pointer: true },
    6: { name: 'template', type: () => podTemplateSpec },
    7: { name: 'backoffLimit', type: 'int', pointer: true },
    8: { name: 'ttlSecondsAfterFinished', type: 'int', pointer: true },
    9: { name: 'completionMode', type: 'string', pointer: true },
    10: { name: 'suspend', type: 'bool', pointer: true },
    12: { name: 'backoffLimitPerIndex', type: 'int', pointer: true },
    13: { name: 'maxFailedIndexes', type: 'int', pointer: true },
    14: { name: 'podReplacementPolicy', type: 'string', pointer: true },
    15: { name: 'managedBy', type: 'string', pointer: true },
  },
};

const job: MessageSchema = {
  name: 'Job',
  fields: {
    1: { name: 'metadata', type: () => objectMeta },
    2: { name: 'spec', type: () => jobSpec },
    // Clients send an empty status, whose non-pointer counters gogo-protobuf still writes as 0.
    3: {
      name: 'status',
      type: () => ({
        name: 'JobStatus',
        fields: {
          4: { name: 'active', type: 'int' },
          5: { name: 'succeeded', type: 'int' },
          6: { name: 'failed', type: 'int' },
          7: { name: 'completedIndexes', type: 'string' },
        },
      }),
    },
  },
};

const cronJob: MessageSchema = {
  name: 'CronJob',
  fields: {
    1: { name: 'metadata', type: () => objectMeta },
    2: {
      name: 'spec',
      type: () => ({
        name: 'CronJobSpec',
        fields: {
          1: { name: 'schedule', type: 'string' },
          2: { name: 'startingDeadlineSeconds', type: 'int', pointer: true },
          3: { name: 'concurrencyPolicy', type: 'string' },
          4: { name: 'suspend', type: 'bool', pointer: true },
          5: {
            name: 'jobTemplate',
            type: () => ({ name: 'JobTemplateSpec', fields: { 1: { name: 'metadata', type: () => objectMeta }, 2: { name: 'spec', type: () => jobSpec } } }),
          },
          6: { name: 'successfulJobsHistoryLimit', type: 'int', pointer: true },
          7: { name: 'failedJobsHistoryLimit', type: 'int', pointer: true },
          8: { name: 'timeZone', type: 'string', pointer: true },
        },
      }),
    },
    3: { name: 'status', type: () => ({ name: 'CronJobStatus', fields: {} }) },
  },
};

/** The workload kinds whose protobuf bodies are decoded. */
export const WORKLOAD_SCHEMAS: Readonly<Record<string, MessageSchema>> = { Job: job, CronJob: cronJob };
