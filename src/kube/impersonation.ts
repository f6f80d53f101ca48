/** Impersonation headers of a kubeconfig user (`as`, `as-groups`, `as-uid`), as kubectl sends them. */
import type { KubeconfigUser } from './kubeconfig.js';

/** Adds the headers to `headers`; groups go as repeated headers, because the apiserver does not split commas. */
export function addImpersonation(headers: Record<string, string | string[]>, user: KubeconfigUser): void {
  if (user.as !== undefined) headers['Impersonate-User'] = user.as;
  if (user.asGroups !== undefined) headers['Impersonate-Group'] = [...user.asGroups];
  if (user.asUid !== undefined) headers['Impersonate-Uid'] = user.asUid;
}
