/**
 * One CEL expression compiled as kube-apiserver compiles admission expressions
 * (`K/apiserver/pkg/admission/plugin/cel/compile.go` CompileCELExpression): parse, the static check of
 * cel-check.ts against the declared variables and object types, then the output type compared with
 * the expression kind's return types (`must evaluate to bool`, `must evaluate to one of [string
 * null_type]`; a variable accepts any type). Errors read as the CEL error's Detail, which the
 * configuration validation puts after `Invalid value: "<expr>": `. Evaluation helpers word run-time
 * errors as cel-go does. Pure.
 */
import { isCelError, parse, plan, type CelInput, type CelResult, type CelType } from '@bufbuild/cel';
import type { Parsed } from '../../../src/errors.js';
import { checkExpression, type CheckIssue } from './cel-check.js';
import type { MatchConditionEnvs, ObjectDecl } from './cel-env.js';

/** What an expression may reference: variables and the object types they use. */
export interface ExpressionDecls {
  variables: ReadonlyMap<string, CelType>;
  objects: Readonly<Record<string, ObjectDecl>>;
}

/** A compiled expression: its checked output type and a function evaluating it against bindings. */
export interface CompiledExpression {
  type: CelType;
  run: (bindings: Record<string, CelInput>) => CelResult;
}

/** cel-go prints a dot per rune before the column, then a caret (common.Error.ToDisplayString). */
function displayIssue(text: string, offset: number, message: string): string {
  const before = [...text.slice(0, offset)];
  const lineStart = before.lastIndexOf('\n') + 1;
  const line = before.filter((c) => c === '\n').length + 1;
  const column = before.length - lineStart;
  const lines = text.split('\n');
  const snippet = (lines[line - 1] ?? '').replace(/\t/g, ' ');
  return `ERROR: <input>:${line}:${column + 1}: ${message}\n | ${snippet}\n | ${'.'.repeat(column)}^`;
}

/** The offset of `<input>:L:C:` in a @bufbuild/cel parse error. */
function parseErrorOffset(text: string, message: string): { offset: number; message: string } {
  const m = /^<input>:(\d+):(\d+): (.*)$/s.exec(message);
  if (m === null) return { offset: 0, message };
  const lines = text.split('\n');
  const lineIndex = Number(m[1]) - 1;
  const offset = lines.slice(0, lineIndex).reduce((n, l) => n + [...l].length + 1, 0) + Number(m[2]) - 1;
  return { offset, message: m[3] ?? message };
}

/**
 * Compiles `expression`; `returns` lists the accepted output types (`'any'`: a variable). cel-go
 * compares types exactly (`IsExactType`), so `dyn` is not `bool`.
 */
export function compileExpression(expression: string, envs: MatchConditionEnvs, decls: ExpressionDecls, returns: readonly CelType[] | 'any'): Parsed<CompiledExpression> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(expression);
  } catch (err) {
    const at = parseErrorOffset(expression, (err as Error).message);
    return { ok: false, error: `compilation failed: ${displayIssue(expression, at.offset, at.message)}` };
  }
  const { type, issues } = checkExpression(parsed, { variables: decls.variables, objects: decls.objects, env: envs.check });
  if (issues.length > 0) {
    const sorted = [...issues].sort((a: CheckIssue, b: CheckIssue) => a.offset - b.offset);
    return { ok: false, error: `compilation failed: ${sorted.map((i) => displayIssue(expression, i.offset, i.message)).join('\n')}` };
  }
  if (returns !== 'any' && !returns.some((t) => String(t) === String(type))) {
    // fmt's %v of a []*cel.Type: `[string null_type]`.
    return { ok: false, error: returns.length === 1 ? `must evaluate to ${String(returns[0])}` : `must evaluate to one of [${returns.map(String).join(' ')}]` };
  }
  const program = plan(envs.run, parsed);
  return { ok: true, value: { type, run: (bindings) => program(bindings) } };
}

/** cel-go's wording for a missing map key, which is what a missing field of unstructured data is. */
export function celGoWording(message: string): string {
  return message.replace(/^field not found: /, 'no such key: ');
}

/** Runs a compiled expression: its value, or the run-time error worded as cel-go words it. */
export function evaluate(run: CompiledExpression['run'], bindings: Record<string, CelInput>): { value: unknown } | { error: string } {
  let result: CelResult;
  try {
    result = run(bindings);
  } catch (err) {
    result = err as CelResult;
  }
  if (isCelError(result) || result instanceof Error) return { error: celGoWording((result as Error).message) };
  return { value: result };
}
