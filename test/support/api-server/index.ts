/**
 * A test Kubernetes API server for tracegate's tests: enough of kube-apiserver for the real kubectl
 * and helm binaries and for @kubernetes/client-node informers. See `server.ts` for what it serves.
 */
export { TEST_NODE_NAME, startTestApiServer } from './server.js';
export type { TestApiServer, TestApiServerOptions } from './server.js';
export type { Faults, FaultMatch, InjectedDelay, InjectedError, InjectedThrottle } from './faults.js';
export type { TestStore } from './store.js';
export type {
  AdmissionHook,
  AdmissionHookRequest,
  AdmissionHookResult,
  AdmissionOptions,
  GroupVersionKind,
  GroupVersionResource,
  JsonObject,
  ObjectCheck,
  ObjectCheckTarget,
  RequestLogEntry,
  UserInfo,
} from './types.js';
