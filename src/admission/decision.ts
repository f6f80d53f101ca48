/** One admission decision, as logged (one line per review) and counted in metrics. */
export interface Decision {
  webhook: 'validate' | 'mutate';
  uid: string;
  kind: string;
  namespace: string;
  name: string;
  operation: string;
  subResource?: string;
  user: string;
  fieldManager?: string;
  tenant?: string;
  /** `skip` when there was nothing to judge (DELETE, scale, a kind tracegate does not evaluate). */
  decision: 'allow' | 'warn' | 'deny' | 'skip';
  /** `policy/rule` of every violation, any action. */
  rules: string[];
  /** `name@version=sha256:…` of every policy that selected the object. */
  policies: string[];
  /** `sha256:…` of the whole policy set the decision was made with (sets change live with TracegatePolicy objects). */
  policySet?: string;
  dryRun: boolean;
  templateChanged?: boolean;
  changes?: string[];
  changeId?: string;
  breakGlass?: boolean;
  patchOps?: number;
}

export function policyRefs(applied: readonly { name: string; version: string; digest: string }[]): string[] {
  return applied.map((p) => `${p.name}@${p.version}=${p.digest}`);
}

/** `Deployment shop/web` (or `Deployment shop/<generateName>…` before a name exists). */
export function objectRef(kind: string, namespace: string, name: string): string {
  return `${kind} ${namespace ? `${namespace}/` : ''}${name || '(unnamed)'}`;
}
