/**
 * What `ValidateMutatingWebhookConfiguration` / `ValidateValidatingWebhookConfiguration`
 * (`K/pkg/apis/admissionregistration/validation/validation.go` validateMatchConditions) enforce on
 * matchConditions, so that a configuration the apiserver would refuse to store is refused here too:
 * at most 64 per webhook, names required, qualified names (`IsQualifiedName`) and unique, expressions
 * non-blank (after trimming) that compile and evaluate to bool. The error reads as the apiserver's 422
 * (`<Kind>.admissionregistration.k8s.io "<name>" is invalid: webhooks[0].matchConditions[0].expression:
 * Invalid value: "…": compilation failed: …`, several in brackets). Compiling for validation gives the
 * programs the chain then evaluates, so each expression is compiled once per chain.
 */
import { createMatchConditionEnvs, type MatchConditionEnvs } from './cel-env.js';
import { InvalidObjectError } from './field-errors.js';
import { compileCondition, type CompiledCondition } from './match-conditions.js';
import type { MutatingWebhookConfiguration, ValidatingWebhookConfiguration, WebhookBase } from './types.js';

/** validateMatchConditions: `len(m) > 64` is TooMany. */
const MAX_MATCH_CONDITIONS = 64;
/** IsQualifiedName: the name part's limit, and the prefix's (a DNS subdomain's). */
const QUALIFIED_NAME_MAX = 63;
const DNS_SUBDOMAIN_MAX = 253;
const QUALIFIED_NAME_FMT = '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]';
const DNS_LABEL_FMT = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
const DNS_SUBDOMAIN_FMT = `${DNS_LABEL_FMT}(\\.${DNS_LABEL_FMT})*`;
const QUALIFIED_NAME_MSG = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const DNS_SUBDOMAIN_MSG = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";

/** validation.RegexError, examples and all. */
export function regexError(msg: string, fmt: string, ...examples: string[]): string {
  return `${msg} (e.g. ${examples.map((e) => `'${e}', `).join(' or ')}regex used for validation is '${fmt}')`;
}

/** validation.IsQualifiedName: an optional DNS subdomain prefix and `/`, then a name of at most 63 bytes. */
export function qualifiedNameErrors(value: string): string[] {
  const errs: string[] = [];
  const parts = value.split('/');
  if (parts.length > 2) {
    return [`a qualified name ${regexError(QUALIFIED_NAME_MSG, QUALIFIED_NAME_FMT, 'MyName', 'my.name', '123-abc')} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')`];
  }
  const name = parts.length === 2 ? (parts[1] ?? '') : (parts[0] ?? '');
  if (parts.length === 2) {
    const prefix = parts[0] ?? '';
    if (prefix === '') errs.push('prefix part must be non-empty');
    else {
      if (Buffer.byteLength(prefix) > DNS_SUBDOMAIN_MAX) errs.push(`prefix part must be no more than ${DNS_SUBDOMAIN_MAX} bytes`);
      if (!new RegExp(`^${DNS_SUBDOMAIN_FMT}$`).test(prefix)) errs.push(`prefix part ${regexError(DNS_SUBDOMAIN_MSG, DNS_SUBDOMAIN_FMT, 'example.com')}`);
    }
  }
  if (name === '') errs.push('name part must be non-empty');
  else if (Buffer.byteLength(name) > QUALIFIED_NAME_MAX) errs.push(`name part must be no more than ${QUALIFIED_NAME_MAX} bytes`);
  if (!new RegExp(`^${QUALIFIED_NAME_FMT}$`).test(name)) errs.push(`name part ${regexError(QUALIFIED_NAME_MSG, QUALIFIED_NAME_FMT, 'MyName', 'my.name', '123-abc')}`);
  return errs;
}

/** validation.IsDNS1123Subdomain (metadata.name of the configuration kinds, a binding's policyName). */
export function dnsSubdomainErrors(value: string): string[] {
  const errs: string[] = [];
  if (Buffer.byteLength(value) > DNS_SUBDOMAIN_MAX) errs.push(`must be no more than ${DNS_SUBDOMAIN_MAX} bytes`);
  if (!new RegExp(`^${DNS_SUBDOMAIN_FMT}$`).test(value)) errs.push(regexError(DNS_SUBDOMAIN_MSG, DNS_SUBDOMAIN_FMT, 'example.com'));
  return errs;
}

/** A field.Error's text: `<path>: Invalid value: "<value>": <detail>` and its siblings. */
const invalid = (path: string, value: string, detail: string) => `${path}: Invalid value: ${JSON.stringify(value)}: ${detail}`;

/** validateMatchConditions for one webhook: its field errors, and the programs when there are none. */
export function validateMatchConditions(hook: Pick<WebhookBase, 'matchConditions'>, path: string, envs: MatchConditionEnvs): { errors: string[]; compiled: CompiledCondition[] } {
  const errors: string[] = [];
  const compiled: CompiledCondition[] = [];
  const seen = new Set<string>();
  if (hook.matchConditions.length > MAX_MATCH_CONDITIONS) errors.push(`${path}: Too many: ${hook.matchConditions.length}: must have at most ${MAX_MATCH_CONDITIONS} items`);
  hook.matchConditions.forEach((c, i) => {
    const at = `${path}[${i}]`;
    const trimmed = c.expression.trim();
    if (trimmed === '') errors.push(`${at}.expression: Required value`);
    else {
      const program = compileCondition(trimmed, envs);
      if (program.ok) compiled.push({ name: c.name, expression: c.expression, run: program.value });
      else errors.push(invalid(`${at}.expression`, trimmed, program.error));
    }
    if (c.name === '') errors.push(`${at}.name: Required value`);
    else for (const msg of qualifiedNameErrors(c.name)) errors.push(invalid(`${at}.name`, c.name, msg));
    if (c.name !== '' && seen.has(c.name)) errors.push(`${at}.name: Duplicate value: ${JSON.stringify(c.name)}`);
    seen.add(c.name);
  });
  return { errors, compiled };
}

/** The compiled conditions of every webhook, by webhook object. */
export type CompiledConditionsByHook = ReadonlyMap<WebhookBase, readonly CompiledCondition[]>;

/** One webhook's conditions compiled, or an Error with its field errors (for callers outside a chain). */
export function compileWebhookConditions(hook: WebhookBase, envs: MatchConditionEnvs = createMatchConditionEnvs()): readonly CompiledCondition[] {
  const { errors, compiled } = validateMatchConditions(hook, 'matchConditions', envs);
  if (errors.length > 0) throw new Error(`webhook ${hook.name}: ${errors.join(', ')}`);
  return compiled;
}

/**
 * Validates the matchConditions of every configuration and compiles them. Throws the apiserver's
 * 422 text for the first configuration it would refuse.
 */
export function compileConfigurations(
  configs: { mutating: MutatingWebhookConfiguration[]; validating: ValidatingWebhookConfiguration[] },
  envs: MatchConditionEnvs = createMatchConditionEnvs(),
): CompiledConditionsByHook {
  const out = new Map<WebhookBase, readonly CompiledCondition[]>();
  for (const config of [...configs.mutating, ...configs.validating]) {
    const errors: string[] = [];
    config.webhooks.forEach((hook, i) => {
      const result = validateMatchConditions(hook, `webhooks[${i}].matchConditions`, envs);
      errors.push(...result.errors);
      out.set(hook, result.compiled);
    });
    if (errors.length > 0) throw new InvalidObjectError(config.kind, config.metadata.name, errors);
  }
  return out;
}
