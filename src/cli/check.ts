/** `tracegate check`: the gate's policies, offline, over manifests — for CI pipelines. */
import { parseArgs } from 'node:util';
import { formatJson } from '../check/report-json.js';
import { formatJunit } from '../check/report-junit.js';
import { formatSarif } from '../check/report-sarif.js';
import { formatText } from '../check/report-text.js';
import { readInputDocuments } from '../check/inputs.js';
import { createCheckRun } from '../check/run.js';
import { TracegateError } from '../errors.js';
import type { CliIo } from './io.js';
import { loadPolicySet } from './policies-option.js';

export const CHECK_USAGE = `Usage: tracegate check [options] FILE|DIR|- ...

Evaluate workload manifests (multi-document YAML or JSON) against tracegate policies, as the gate would
on CREATE. Provenance rules (a fresh commit, an approver) are left to admission, where the change has a
requester and a commit; --provenance judges them here too. Exit 0 when nothing is denied, 1 when
something is, 2 on usage or input errors.

Options:
  -p, --policies PATH     policy file or directory (repeatable; default: the bundled policies)
  -n, --namespace NS      namespace for resources that name none (default: default)
      --tenant T          tenant the namespace belongs to (selects tenant-specific policies)
      --user U            requesting user, for provenance rules (default: none, i.e. untrusted)
      --group G           a group of the requesting user (repeatable)
      --field-manager M   field manager, for provenance rules (e.g. helm, kubectl-set)
      --provenance        judge provenance rules too, as for a CREATE by --user with --field-manager
  -o, --output FORMAT     text (default), json, junit or sarif
  -h, --help              show this help

Examples:
  helm template web ./chart | tracegate check -
  tracegate check -o junit manifests/ > report.xml
`;

const FORMATS = ['text', 'json', 'junit', 'sarif'] as const;

/** Runs `check`; returns the exit code. */
export async function runCheckCommand(args: string[], io: CliIo, version: string): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      policies: { type: 'string', short: 'p', multiple: true },
      namespace: { type: 'string', short: 'n' },
      tenant: { type: 'string' },
      user: { type: 'string' },
      group: { type: 'string', multiple: true },
      'field-manager': { type: 'string' },
      provenance: { type: 'boolean' },
      output: { type: 'string', short: 'o', default: 'text' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    io.stdout(CHECK_USAGE);
    return 0;
  }
  const format = values.output as (typeof FORMATS)[number];
  if (!FORMATS.includes(format)) throw new TracegateError('USAGE', `unknown output format ${JSON.stringify(values.output)}; use ${FORMATS.join(', ')}`);
  if (positionals.length === 0) throw new TracegateError('USAGE', 'no input: give files, directories or - for standard input');
  const set = await loadPolicySet(values.policies, io);
  const run = createCheckRun(set, {
    namespace: values.namespace ?? 'default',
    ...(values.tenant !== undefined ? { tenant: values.tenant } : {}),
    username: values.user ?? '',
    groups: values.group ?? [],
    ...(values['field-manager'] !== undefined ? { fieldManager: values['field-manager'] } : {}),
    provenance: values.provenance === true,
  });
  // Documents are evaluated as they are parsed, but an input error anywhere still wins over a failure
  // evaluating an earlier document, as when every input was parsed first: the failure waits for the end.
  let failure: { error: unknown } | undefined;
  for await (const doc of readInputDocuments(positionals, io.readStdin, io.cwd)) {
    if (failure) continue;
    try {
      run.add(doc);
    } catch (error) {
      failure = { error };
    }
  }
  if (failure) throw failure.error;
  const report = run.report();
  const render = { text: formatText, json: formatJson, junit: formatJunit, sarif: (r: typeof report) => formatSarif(r, version) }[format];
  io.stdout(render(report));
  return report.summary.denied > 0 ? 1 : 0;
}
