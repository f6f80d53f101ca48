/**
 * `field.Error` texts (`k8s.io/apimachinery/pkg/util/validation/field` ErrorBody) and the 422 the
 * apiserver answers with for an object it refuses to store (`apierrors.NewInvalid`: one error as is,
 * several in brackets, duplicates dropped). Values are printed as ErrorBody prints them: strings with
 * `%q`, slices with `%#v` (`[]string{"a", "b"}`). Pure.
 */

/** Go's `%q` of a string; JSON quoting agrees with it for the printable text configurations hold. */
export function q(value: string): string {
  return JSON.stringify(value);
}

/** Go's `%#v` of a slice of strings of the named type: `[]string{"*", "CREATE"}`. */
export function goSlice(type: string, items: readonly string[]): string {
  return `[]${type}{${items.map(q).join(', ')}}`;
}

/** `field.Required`. */
export function required(path: string, detail = ''): string {
  return `${path}: Required value${detail === '' ? '' : `: ${detail}`}`;
}

/** `field.Invalid` with the value already formatted (use {@link q} or {@link goSlice}). */
export function invalid(path: string, shownValue: string, detail: string): string {
  return `${path}: Invalid value: ${shownValue}: ${detail}`;
}

/** `field.NotSupported`: the supported values as the apiserver lists them (sorted sets). */
export function notSupported(path: string, value: string, supported: readonly string[]): string {
  return `${path}: Unsupported value: ${q(value)}: supported values: ${supported.map(q).join(', ')}`;
}

/** `field.Duplicate`. */
export function duplicate(path: string, value: string): string {
  return `${path}: Duplicate value: ${q(value)}`;
}

/** `field.Forbidden`. */
export function forbiddenField(path: string, detail: string): string {
  return `${path}: Forbidden: ${detail}`;
}

/** The 422 text of an admissionregistration object the apiserver refuses: `<Kind>.admissionregistration.k8s.io "<name>" is invalid: …`. */
export function invalidObjectMessage(kind: string, name: string, errors: readonly string[]): string {
  const unique = [...new Set(errors)];
  const detail = unique.length === 1 ? unique[0] : `[${unique.join(', ')}]`;
  return `${kind}.admissionregistration.k8s.io ${q(name)} is invalid: ${detail}`;
}

/**
 * The error `loadWebhookConfigs`, `loadAdmissionPolicies` and `createAdmissionChain` throw for an object
 * the apiserver would refuse to store: the 422 text as `message`, its field errors (`<path>: <detail>`)
 * in `errors`, so a server can answer with the same Status causes.
 */
export class InvalidObjectError extends Error {
  readonly errors: readonly string[];
  constructor(kind: string, name: string, errors: readonly string[]) {
    super(invalidObjectMessage(kind, name, errors));
    this.name = 'InvalidObjectError';
    this.errors = [...new Set(errors)];
  }
}
