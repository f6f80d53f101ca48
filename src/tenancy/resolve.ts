/** Tenant of a namespace: its tenant label, else a configured namespace-name pattern. Pure. */

/** Labels of a namespace, or undefined when the namespace is unknown. */
export interface NamespaceLabels {
  labels(namespace: string): Readonly<Record<string, string>> | undefined;
}

export interface TenancyOptions {
  /** Namespace label that names the tenant, e.g. `tracegate.io/tenant`. */
  tenantLabel: string;
  /** Optional pattern over namespace names; the `tenant` named group (or group 1) is the tenant. */
  namespacePattern?: RegExp;
}

/** Creates the resolver used by the gate on every review; it reads only the in-memory cache. */
export function createTenantResolver(opts: TenancyOptions, namespaces: NamespaceLabels) {
  return function tenantOf(namespace: string): string | undefined {
    if (!namespace) return undefined;
    const fromLabel = namespaces.labels(namespace)?.[opts.tenantLabel];
    if (fromLabel) return fromLabel;
    const m = opts.namespacePattern?.exec(namespace);
    const fromName = m?.groups?.tenant ?? m?.[1];
    return fromName || undefined;
  };
}

export type TenantResolver = ReturnType<typeof createTenantResolver>;
