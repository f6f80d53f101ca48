/**
 * The ClusterRoles and ClusterRoleBindings kube-apiserver creates at start (the `rbac/bootstrap-roles`
 * post-start hook), from plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go — the part users and
 * add-ons rely on: `cluster-admin` (bound to `system:masters`), `system:discovery` and
 * `system:basic-user` (bound to `system:authenticated`), `system:public-info-viewer` (also bound to
 * `system:unauthenticated`), `system:auth-delegator`, and the user-facing `admin` / `edit` / `view`,
 * which hold no rules of their own but aggregate the ClusterRoles labelled
 * `rbac.authorization.k8s.io/aggregate-to-{admin,edit,view}` (`edit` is labelled to feed `admin`, `view`
 * to feed `edit`) — starting with `system:aggregate-to-*`. Each rule's lists are sorted, as
 * `PolicyRuleBuilder.Rule()` sorts them; every object carries `kubernetes.io/bootstrapping: rbac-defaults`
 * and `rbac.authorization.kubernetes.io/autoupdate: "true"` (`addDefaultMetadata`).
 * `system:aggregate-to-view`/`-edit` are cut to the resources this server can serve or that
 * clients commonly check (no node, storage or DRA rules); the controller and node roles are left out.
 */
import type { JsonObject } from './types.js';

const RBAC_V1 = 'rbac.authorization.k8s.io/v1';
const READ = ['get', 'list', 'watch'];
const WRITE = ['create', 'update', 'patch', 'delete', 'deletecollection'];
const READ_WRITE = [...READ, ...WRITE];
/** The controller role of kube-controller-manager's aggregation controller (`saRolePrefix` + its name). */
const AGGREGATION_CONTROLLER_ROLE = 'system:controller:clusterrole-aggregation-controller';
const AGGREGATE = (to: string): string => `rbac.authorization.k8s.io/aggregate-to-${to}`;

/** `rbacv1helpers.NewRule(verbs…).Groups(…).Resources(…).RuleOrDie()`: every list sorted. */
function rule(verbs: string[], apiGroups: string[], resources: string[]): JsonObject {
  return { verbs: [...verbs].sort(), apiGroups: [...apiGroups].sort(), resources: [...resources].sort() };
}

/** `NewRule(verbs…).URLs(…)`. */
function urls(verbs: string[], nonResourceURLs: string[]): JsonObject {
  return { verbs: [...verbs].sort(), nonResourceURLs: [...nonResourceURLs].sort() };
}

function clusterRole(name: string, rules: JsonObject[] | undefined, labels: Record<string, string> = {}, aggregateFrom?: string): JsonObject {
  const role: JsonObject = {
    apiVersion: RBAC_V1,
    kind: 'ClusterRole',
    metadata: { name, labels: { 'kubernetes.io/bootstrapping': 'rbac-defaults', ...labels }, annotations: { 'rbac.authorization.kubernetes.io/autoupdate': 'true' } },
  };
  if (aggregateFrom !== undefined) role['aggregationRule'] = { clusterRoleSelectors: [{ matchLabels: { [AGGREGATE(aggregateFrom)]: 'true' } }] };
  if (rules !== undefined) role['rules'] = rules;
  return role;
}

function groupBinding(name: string, groups: string[]): JsonObject {
  return {
    apiVersion: RBAC_V1,
    kind: 'ClusterRoleBinding',
    metadata: { name, labels: { 'kubernetes.io/bootstrapping': 'rbac-defaults' }, annotations: { 'rbac.authorization.kubernetes.io/autoupdate': 'true' } },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
    subjects: groups.map((g) => ({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: g })),
  };
}

const HEALTH = ['/livez', '/readyz', '/healthz', '/version', '/version/'];

/** The bootstrap ClusterRoles (the aggregated ones with empty rules: the aggregation controller fills them). */
export function bootstrapClusterRoles(): JsonObject[] {
  return [
    clusterRole('cluster-admin', [rule(['*'], ['*'], ['*']), urls(['*'], ['*'])]),
    clusterRole('system:discovery', [urls(['get'], [...HEALTH, '/openapi', '/openapi/*', '/api', '/api/*', '/apis', '/apis/*'])]),
    clusterRole('system:basic-user', [
      rule(['create'], ['authorization.k8s.io'], ['selfsubjectaccessreviews', 'selfsubjectrulesreviews']),
      // SelfSubjectReview (kubectl auth whoami) is GA since 1.28 and granted here unconditionally.
      rule(['create'], ['authentication.k8s.io'], ['selfsubjectreviews']),
    ]),
    clusterRole('system:public-info-viewer', [urls(['get'], HEALTH)]),
    clusterRole('admin', [], {}, 'admin'),
    clusterRole('edit', [], { [AGGREGATE('admin')]: 'true' }, 'edit'),
    clusterRole('view', [], { [AGGREGATE('edit')]: 'true' }, 'view'),
    clusterRole('system:aggregate-to-admin', [rule(['create'], ['authorization.k8s.io'], ['localsubjectaccessreviews']), rule(READ_WRITE, ['rbac.authorization.k8s.io'], ['roles', 'rolebindings'])], { [AGGREGATE('admin')]: 'true' }),
    clusterRole(
      'system:aggregate-to-edit',
      [
        // Read on escalating resources.
        rule(READ, [''], ['pods/attach', 'pods/proxy', 'pods/exec', 'pods/portforward', 'secrets', 'services/proxy']),
        rule(['impersonate'], [''], ['serviceaccounts']),
        rule(WRITE, [''], ['pods', 'pods/attach', 'pods/proxy', 'pods/exec', 'pods/portforward']),
        // No endpoints writes since 1.22 (CVE-2021-25740).
        rule(WRITE, [''], ['replicationcontrollers', 'replicationcontrollers/scale', 'serviceaccounts', 'services', 'services/proxy', 'persistentvolumeclaims', 'configmaps', 'secrets']),
        rule(WRITE, ['apps'], ['statefulsets', 'statefulsets/scale', 'daemonsets', 'deployments', 'deployments/scale', 'deployments/rollback', 'replicasets', 'replicasets/scale']),
        rule(WRITE, ['autoscaling'], ['horizontalpodautoscalers']),
        rule(WRITE, ['batch'], ['jobs', 'cronjobs']),
        rule(WRITE, ['extensions'], ['daemonsets', 'deployments', 'deployments/scale', 'deployments/rollback', 'ingresses', 'replicasets', 'replicasets/scale', 'replicationcontrollers/scale', 'networkpolicies']),
        rule(WRITE, ['policy'], ['poddisruptionbudgets']),
        rule(WRITE, ['networking.k8s.io'], ['networkpolicies', 'ingresses']),
      ],
      { [AGGREGATE('edit')]: 'true' },
    ),
    clusterRole(
      'system:aggregate-to-view',
      [
        rule(READ, [''], ['pods', 'replicationcontrollers', 'replicationcontrollers/scale', 'serviceaccounts', 'services', 'services/status', 'endpoints', 'persistentvolumeclaims', 'persistentvolumeclaims/status', 'configmaps']),
        rule(READ, [''], ['limitranges', 'resourcequotas', 'bindings', 'events', 'pods/status', 'resourcequotas/status', 'namespaces/status', 'replicationcontrollers/status', 'pods/log']),
        // Reading namespaces at namespace scope: which namespaces one may see.
        rule(READ, [''], ['namespaces']),
        rule(READ, ['apps'], ['controllerrevisions', 'statefulsets', 'statefulsets/status', 'statefulsets/scale', 'daemonsets', 'daemonsets/status', 'deployments', 'deployments/status', 'deployments/scale', 'replicasets', 'replicasets/status', 'replicasets/scale']),
        rule(READ, ['autoscaling'], ['horizontalpodautoscalers', 'horizontalpodautoscalers/status']),
        rule(READ, ['batch'], ['jobs', 'cronjobs', 'cronjobs/status', 'jobs/status']),
        rule(READ, ['extensions'], ['daemonsets', 'daemonsets/status', 'deployments', 'deployments/scale', 'deployments/status', 'ingresses', 'ingresses/status', 'replicasets', 'replicasets/scale', 'replicasets/status', 'replicationcontrollers/scale', 'networkpolicies']),
        rule(READ, ['policy'], ['poddisruptionbudgets', 'poddisruptionbudgets/status']),
        rule(READ, ['networking.k8s.io'], ['networkpolicies', 'ingresses', 'ingresses/status']),
      ],
      { [AGGREGATE('view')]: 'true' },
    ),
    clusterRole('system:auth-delegator', [rule(['create'], ['authentication.k8s.io'], ['tokenreviews']), rule(['create'], ['authorization.k8s.io'], ['subjectaccessreviews'])]),
    // controller_policy.go: the aggregation controller may write any ClusterRole's rules (`escalate`).
    clusterRole(AGGREGATION_CONTROLLER_ROLE, [rule(['escalate', 'get', 'list', 'watch', 'update', 'patch'], ['rbac.authorization.k8s.io'], ['clusterroles'])]),
  ];
}


/** The bootstrap ClusterRoleBindings of those roles. */
export function bootstrapClusterRoleBindings(): JsonObject[] {
  return [
    groupBinding('cluster-admin', ['system:masters']),
    groupBinding('system:discovery', ['system:authenticated']),
    groupBinding('system:basic-user', ['system:authenticated']),
    groupBinding('system:public-info-viewer', ['system:authenticated', 'system:unauthenticated']),
    {
      ...groupBinding(AGGREGATION_CONTROLLER_ROLE, []),
      subjects: [{ kind: 'ServiceAccount', name: 'clusterrole-aggregation-controller', namespace: 'kube-system' }],
    },
  ];
}
