/** `tracegate check`: the gate's policies, offline, over manifests — for CI pipelines. */
import { parseArgs } from 'node:util';
import { formatJson } from '../check/report-json.js';
import { formatJunit } from '../check/report-junit.js';
import { formatSarif } from '../check/report-sarif.js';
import { formatText } from '../check/report-text.js';
import { readInputs } from '../check/inputs.js';
import { runCheck } from '../check/run.js';
import { TracegateError } from '../errors.js';
import type { CliIo } from './io.js';
import { loadPolicySet } from './policies-option.js';

export const CHECK_USAGE = `Usage: tracegate check [options] FILE|DIR|- ...

Evaluate workload manifests (multi-document YAML or JSON) against tracegate policies, as the gate would
on CREATE. Exit 0 when nothing is denied, 1 when something is, 2 on usage or input errors.

Options:
  -p, --policies PATH     policy file or directory (repeatable; default: the bundled policies)
  -n, --namespace NS      namespace for resources that name none (default: default)
      --tenant T          tenant the namespace belongs to (selects tenant-specific policies)
      --user U            requesting user, for provenance rules (default: none, i.e. untrusted)
      --group G           a group of the requesting user (repeatable)
      --field-manager M   field manager, for provenance rules (e.g. helm, kubectl-set)
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
  const docs = await readInputs(positionals, io.readStdin, io.cwd);
  const report = runCheck(set, docs, {
    namespace: values.namespace ?? 'default',
    ...(values.tenant !== undefined ? { tenant: values.tenant } : {}),
    username: values.user ?? '',
    groups: values.group ?? [],
    ...(values['field-manager'] !== undefined ? { fieldManager: values['field-manager'] } : {}),
  });
  const render = { text: formatText, json: formatJson, junit: formatJunit, sarif: (r: typeof report) => formatSarif(r, version) }[format];
  io.stdout(render(report));
  return report.summary.denied > 0 ? 1 : 0;
}
