/**
 * The CEL environment kube-apiserver compiles webhook matchConditions in
 * (`K/apiserver/pkg/admission/plugin/cel/compile.go` mustBuildEnvs, webhooks: no params, with
 * authorizer): the declared variables and their types, the object types `BuildRequestType` /
 * `BuildNamespaceType` declare, the authorizer library's types (`K/apiserver/pkg/cel/library/authz.go`),
 * and the functions — CEL's standard ones and the strings extension Kubernetes' base environment adds,
 * all from @bufbuild/cel. Nothing here evaluates; see match-conditions.ts.
 */
import { CelScalar, celEnv, celMethod, listType, mapType, objectType, type CelEnv, type CelFunc, type CelType } from '@bufbuild/cel';
import { strings } from '@bufbuild/cel/ext';

const { BOOL, DYN, INT, STRING } = CelScalar;
const LIST_STRING = listType(STRING);

/** `kubernetes.AdmissionRequest` and the types of its fields. */
export const REQUEST_TYPE = objectType('kubernetes.AdmissionRequest');
const GVK = objectType('kubernetes.GroupVersionKind');
const GVR = objectType('kubernetes.GroupVersionResource');
const USER_INFO = objectType('kubernetes.UserInfo');
const NAMESPACE = objectType('kubernetes.Namespace');
const NAMESPACE_META = objectType('kubernetes.NamespaceMetadata');
const NAMESPACE_SPEC = objectType('kubernetes.NamespaceSpec');
const NAMESPACE_STATUS = objectType('kubernetes.NamespaceStatus');
const NAMESPACE_CONDITION = objectType('kubernetes.NamespaceCondition');
/** metav1.Time fields are declared as CEL timestamps. */
const TIMESTAMP = objectType('google.protobuf.Timestamp');

/** The authorizer library's types. */
const AUTHORIZER = objectType('kubernetes.authorization.Authorizer');
const PATH_CHECK = objectType('kubernetes.authorization.PathCheck');
const GROUP_CHECK = objectType('kubernetes.authorization.GroupCheck');
const RESOURCE_CHECK = objectType('kubernetes.authorization.ResourceCheck');
const DECISION = objectType('kubernetes.authorization.Decision');

/** A method of a declared object type: its argument types (after the receiver) and result. */
export interface MethodDecl {
  args: CelType[];
  result: CelType;
}

/** A declared object type: its fields (cel-go rejects any other at compile time) and methods. */
export interface ObjectDecl {
  fields: Record<string, CelType>;
  methods: Record<string, MethodDecl[]>;
}

const fieldsOnly = (fields: Record<string, CelType>): ObjectDecl => ({ fields, methods: {} });

/** Every object type the environment declares, by name. */
export const OBJECT_TYPES: Readonly<Record<string, ObjectDecl>> = {
  // BuildRequestType: uid, object and oldObject are left out (the latter two are variables of their own).
  [REQUEST_TYPE.name]: fieldsOnly({
    kind: GVK,
    resource: GVR,
    subResource: STRING,
    requestKind: GVK,
    requestResource: GVR,
    requestSubResource: STRING,
    name: STRING,
    namespace: STRING,
    operation: STRING,
    userInfo: USER_INFO,
    dryRun: BOOL,
    options: DYN,
  }),
  [GVK.name]: fieldsOnly({ group: STRING, version: STRING, kind: STRING }),
  [GVR.name]: fieldsOnly({ group: STRING, version: STRING, resource: STRING }),
  [USER_INFO.name]: fieldsOnly({ username: STRING, uid: STRING, groups: LIST_STRING, extra: mapType(STRING, LIST_STRING) }),
  // BuildNamespaceType: declared for every admission expression, bound to null for webhooks.
  [NAMESPACE.name]: fieldsOnly({ metadata: NAMESPACE_META, spec: NAMESPACE_SPEC, status: NAMESPACE_STATUS }),
  [NAMESPACE_META.name]: fieldsOnly({
    name: STRING,
    generateName: STRING,
    namespace: STRING,
    labels: mapType(STRING, STRING),
    annotations: mapType(STRING, STRING),
    UID: STRING,
    creationTimestamp: TIMESTAMP,
    deletionGracePeriodSeconds: INT,
    deletionTimestamp: TIMESTAMP,
    generation: INT,
    resourceVersion: STRING,
    finalizers: LIST_STRING,
  }),
  [NAMESPACE_SPEC.name]: fieldsOnly({ finalizers: LIST_STRING }),
  [NAMESPACE_STATUS.name]: fieldsOnly({ conditions: listType(NAMESPACE_CONDITION), phase: STRING }),
  [NAMESPACE_CONDITION.name]: fieldsOnly({ status: STRING, type: STRING, lastTransitionTime: TIMESTAMP, message: STRING, reason: STRING }),
  // authz.go; `authorizer.requestResource` is a variable of its own in cel-go, a field here (same type).
  [AUTHORIZER.name]: {
    fields: { requestResource: RESOURCE_CHECK },
    methods: {
      path: [{ args: [STRING], result: PATH_CHECK }],
      group: [{ args: [STRING], result: GROUP_CHECK }],
      serviceAccount: [{ args: [STRING, STRING], result: AUTHORIZER }],
    },
  },
  [PATH_CHECK.name]: { fields: {}, methods: { check: [{ args: [STRING], result: DECISION }] } },
  [GROUP_CHECK.name]: { fields: {}, methods: { resource: [{ args: [STRING], result: RESOURCE_CHECK }] } },
  [RESOURCE_CHECK.name]: {
    fields: {},
    methods: {
      subresource: [{ args: [STRING], result: RESOURCE_CHECK }],
      namespace: [{ args: [STRING], result: RESOURCE_CHECK }],
      name: [{ args: [STRING], result: RESOURCE_CHECK }],
      fieldSelector: [{ args: [STRING], result: RESOURCE_CHECK }],
      labelSelector: [{ args: [STRING], result: RESOURCE_CHECK }],
      check: [{ args: [STRING], result: DECISION }],
    },
  },
  [DECISION.name]: {
    fields: {},
    methods: { allowed: [{ args: [], result: BOOL }], reason: [{ args: [], result: STRING }], errored: [{ args: [], result: BOOL }], error: [{ args: [], result: STRING }] },
  },
};

/**
 * The variables a webhook's matchConditions may use. `params` is not declared for webhooks
 * (ValidateMutatingWebhookConfiguration: allowParamsInMatchConditions false), nor is `variables`.
 */
export const DECLARED_VARIABLES: ReadonlyMap<string, CelType> = new Map<string, CelType>([
  ['object', DYN],
  ['oldObject', DYN],
  ['request', REQUEST_TYPE],
  ['namespaceObject', NAMESPACE],
  ['authorizer', AUTHORIZER],
]);

/** Why any use of `authorizer` fails: there is nothing to ask. */
export const AUTHORIZER_NOT_MODELLED = 'authorizer is not modelled: the test API server has no RBAC, so this chain cannot answer authorization checks';

/**
 * The authorizer methods at run time: each fails with {@link AUTHORIZER_NOT_MODELLED}. Receivers are
 * `dyn` because @bufbuild/cel has no custom object types; the static check keeps them to authorizer values.
 */
function authorizerStubs(): CelFunc[] {
  const stubs: CelFunc[] = [];
  for (const decl of Object.keys(OBJECT_TYPES).filter((n) => n.startsWith('kubernetes.authorization.'))) {
    for (const [name, overloads] of Object.entries(OBJECT_TYPES[decl]?.methods ?? {})) {
      for (const o of overloads) {
        stubs.push(
          celMethod(name, DYN, o.args.map(() => DYN), DYN, () => {
            throw new Error(AUTHORIZER_NOT_MODELLED);
          }),
        );
      }
    }
  }
  // Methods several types share (check, name…) would otherwise be registered more than once.
  return [...new Map(stubs.map((s) => [s.id, s])).values()];
}

/** The environments: `check` holds exactly the functions cel-go would type-check against; `run` adds the authorizer stubs. */
export interface MatchConditionEnvs {
  check: CelEnv;
  run: CelEnv;
}

/** Builds both environments; build once per chain (or per loaded configuration set), not per request. */
export function createMatchConditionEnvs(): MatchConditionEnvs {
  return { check: celEnv({ funcs: strings }), run: celEnv({ funcs: [...strings, ...authorizerStubs()] }) };
}
