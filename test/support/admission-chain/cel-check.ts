/**
 * The compile-time half of cel-go's `env.Compile` for matchConditions, over the AST @bufbuild/cel
 * parses: @bufbuild/cel 0.6 evaluates but does not export a type checker (its `Checker` types
 * constants and identifiers only), and kube-apiserver refuses at compile time what it would only find
 * at run time. So this pass reports, as cel-go does: undeclared variables and functions
 * (`undeclared reference to 'x' (in container '')`), fields the declared request types lack
 * (`undefined field 'x'`), calls no overload accepts (`found no matching overload for '_+_' applied
 * to '(int, string)'`, checked only when the argument types are known, as `dyn` is assignable to
 * everything), and the output type `CompileCELExpression` compares with bool. Types follow cel-go's
 * checker: `object`/`oldObject` are `dyn`, so a field of theirs is `dyn` (and `object.spec.paused`
 * alone does not evaluate to bool), overloads with one result type give it, a ternary over two types
 * gives the more general one. Overloads come from the function set the evaluator itself uses. Pure.
 */
import { CelScalar, listType, mapType, type CelEnv, type CelType, type parse } from '@bufbuild/cel';
import type { ObjectDecl } from './cel-env.js';

type ParsedExpr = ReturnType<typeof parse>;
type Expr = ParsedExpr['expr'];

const { BOOL, BYTES, DOUBLE, DYN, INT, NULL, STRING, TYPE, UINT } = CelScalar;
const LIST_DYN = listType(DYN);

/** One compile error, at an offset into the expression text. */
export interface CheckIssue {
  offset: number;
  message: string;
}

/** What the check needs: declared variables, declared object types, and the functions. */
export interface CheckDeclarations {
  variables: ReadonlyMap<string, CelType>;
  objects: Readonly<Record<string, ObjectDecl>>;
  env: CelEnv;
}

interface Overload {
  member: boolean;
  /** For a member overload, the receiver first. */
  params: CelType[];
  result: CelType;
}

function sameType(a: CelType, b: CelType): boolean {
  if (a.kind === 'list' && b.kind === 'list') return sameType(a.element, b.element);
  if (a.kind === 'map' && b.kind === 'map') return sameType(a.key, b.key) && sameType(a.value, b.value);
  return a.kind === b.kind && a.name === b.name;
}

/** cel-go's isAssignable, without type parameters: `dyn` goes both ways, containers element-wise. */
function assignable(param: CelType, arg: CelType): boolean {
  if (param.name === 'dyn' || arg.name === 'dyn') return true;
  if (param.kind === 'list' && arg.kind === 'list') return assignable(param.element, arg.element);
  if (param.kind === 'map' && arg.kind === 'map') return assignable(param.key, arg.key) && assignable(param.value, arg.value);
  return sameType(param, arg);
}

/** The more general of two types (cel-go's mostGeneral when unifying a type parameter). */
function join(a: CelType, b: CelType): CelType {
  return sameType(a, b) ? a : DYN;
}

function isBoolish(t: CelType): boolean {
  return assignable(BOOL, t);
}

const PRIMITIVES: ReadonlySet<string> = new Set(['bool', 'int', 'uint', 'double', 'string', 'bytes']);
/** Identifiers that name a type (`type(x) == map`): values of type `type`. */
const TYPE_NAMES: ReadonlySet<string> = new Set([...PRIMITIVES, 'list', 'map', 'null_type', 'type', 'dyn']);

function overloadTable(env: CelEnv): Map<string, Overload[]> {
  const table = new Map<string, Overload[]>();
  for (const f of env.funcs) {
    const entry: Overload = { member: f.target !== undefined, params: f.target === undefined ? [...f.arguments] : [f.target, ...f.arguments], result: f.result };
    table.set(f.name, [...(table.get(f.name) ?? []), entry]);
  }
  return table;
}

/** `(int, string)` or `string.(int)`, as cel-go prints a call's argument types. */
function signature(member: boolean, args: CelType[]): string {
  const names = args.map(String);
  return member ? `${names[0]}.(${names.slice(1).join(', ')})` : `(${names.join(', ')})`;
}

/** Type-checks `parsed`; returns its output type and every issue found (none: it compiles). */
export function checkExpression(parsed: ParsedExpr, decls: CheckDeclarations): { type: CelType; issues: CheckIssue[] } {
  const overloads = overloadTable(decls.env);
  const positions = parsed.sourceInfo?.positions ?? {};
  const issues: CheckIssue[] = [];
  const issue = (e: Expr, message: string): CelType => {
    issues.push({ offset: positions[String(e.id)] ?? 0, message });
    return DYN;
  };
  const undeclared = (e: Expr, name: string) => issue(e, `undeclared reference to '${name}' (in container '')`);

  /** Picks the overloads accepting `args`; one result type wins, several give dyn. */
  function resolve(e: Expr, name: string, member: boolean, args: CelType[]): CelType {
    const candidates = (overloads.get(name) ?? []).filter((o) => o.member === member);
    if (candidates.length === 0) return undeclared(e, name);
    const fits = candidates.filter((o) => o.params.length === args.length && o.params.every((p, i) => assignable(p, args[i] ?? DYN)));
    if (fits.length === 0) return issue(e, `found no matching overload for '${name}' applied to '${signature(member, args)}'`);
    const first = fits[0]!.result;
    return fits.every((o) => sameType(o.result, first)) ? first : DYN;
  }

  function objectMethod(e: Expr, receiver: CelType, name: string, args: CelType[]): CelType {
    const decl = decls.objects[receiver.name];
    const methods = decl?.methods[name];
    if (methods === undefined) return resolve(e, name, true, [receiver, ...args]);
    const fit = methods.find((m) => m.args.length === args.length && m.args.every((p, i) => assignable(p, args[i] ?? DYN)));
    return fit?.result ?? issue(e, `found no matching overload for '${name}' applied to '${signature(true, [receiver, ...args])}'`);
  }

  function select(e: Expr, operand: CelType, field: string, testOnly: boolean): CelType {
    let type: CelType;
    if (operand.kind === 'map') type = operand.value;
    else if (operand.kind === 'object' && decls.objects[operand.name] !== undefined) {
      type = decls.objects[operand.name]?.fields[field] ?? issue(e, `undefined field '${field}'`);
    } else if (operand.name === 'dyn') type = DYN;
    else type = issue(e, `type '${String(operand)}' does not support field selection`);
    return testOnly ? BOOL : type;
  }

  function call(e: Expr, fn: string, target: Expr | undefined, argExprs: Expr[], scope: Map<string, CelType>): CelType {
    // `strings.quote(x)`: a qualified function name, not a member call on a variable.
    if (target?.exprKind.case === 'identExpr' && !scope.has(target.exprKind.value.name) && !decls.variables.has(target.exprKind.value.name)) {
      const qualified = `${target.exprKind.value.name}.${fn}`;
      if (overloads.has(qualified)) return resolve(e, qualified, false, argExprs.map((a) => typeOf(a, scope)));
    }
    const args = argExprs.map((a) => typeOf(a, scope));
    if (target !== undefined) return objectMethod(e, typeOf(target, scope), fn, args);
    switch (fn) {
      case '_&&_':
      case '_||_':
        if (!args.every(isBoolish)) return issue(e, `found no matching overload for '${fn}' applied to '${signature(false, args)}'`);
        return BOOL;
      case '@not_strictly_false':
        return BOOL;
      case '_?_:_':
        if (!isBoolish(args[0] ?? DYN)) return issue(e, `found no matching overload for '${fn}' applied to '${signature(false, args)}'`);
        return join(args[1] ?? DYN, args[2] ?? DYN);
      case '_==_':
      case '_!=_': {
        // (A, A) -> bool: two different known primitive types do not unify.
        const [a = DYN, b = DYN] = args;
        if (PRIMITIVES.has(a.name) && PRIMITIVES.has(b.name) && a.name !== b.name) return issue(e, `found no matching overload for '${fn}' applied to '${signature(false, args)}'`);
        return BOOL;
      }
      case '_[_]': {
        const [container = DYN, index = DYN] = args;
        if (container.kind === 'list' && assignable(INT, index)) return container.element;
        if (container.kind === 'map' && assignable(container.key, index)) return container.value;
        if (container.name === 'dyn') return DYN;
        return issue(e, `found no matching overload for '_[_]' applied to '${signature(false, args)}'`);
      }
      default:
        return resolve(e, fn, false, args);
    }
  }

  function constant(e: Expr & { exprKind: { case: 'constExpr' } }): CelType {
    switch (e.exprKind.value.constantKind.case) {
      case 'boolValue':
        return BOOL;
      case 'int64Value':
        return INT;
      case 'uint64Value':
        return UINT;
      case 'doubleValue':
        return DOUBLE;
      case 'stringValue':
        return STRING;
      case 'bytesValue':
        return BYTES;
      case 'nullValue':
        return NULL;
      default:
        return DYN;
    }
  }

  function typeOf(e: Expr, scope: Map<string, CelType>): CelType {
    const kind = e.exprKind;
    switch (kind.case) {
      case 'constExpr':
        return constant(e as Expr & { exprKind: { case: 'constExpr' } });
      case 'identExpr':
        return scope.get(kind.value.name) ?? decls.variables.get(kind.value.name) ?? (TYPE_NAMES.has(kind.value.name) ? TYPE : undeclared(e, kind.value.name));
      case 'selectExpr':
        return kind.value.operand === undefined ? DYN : select(e, typeOf(kind.value.operand, scope), kind.value.field, kind.value.testOnly);
      case 'callExpr':
        return call(e, kind.value.function, kind.value.target, kind.value.args, scope);
      case 'listExpr': {
        const elems = kind.value.elements.map((x) => typeOf(x, scope));
        return elems.length === 0 ? LIST_DYN : listType(elems.reduce(join) as Parameters<typeof listType>[0]);
      }
      case 'structExpr': {
        if (kind.value.messageName !== '') return undeclared(e, kind.value.messageName);
        const keys: CelType[] = [];
        const values: CelType[] = [];
        for (const entry of kind.value.entries) {
          if (entry.keyKind.case === 'mapKey') keys.push(typeOf(entry.keyKind.value, scope));
          if (entry.value !== undefined) values.push(typeOf(entry.value, scope));
        }
        const key = keys.length === 0 ? DYN : keys.reduce(join);
        return mapType((PRIMITIVES.has(key.name) ? key : DYN) as Parameters<typeof mapType>[0], values.length === 0 ? DYN : values.reduce(join));
      }
      case 'comprehensionExpr': {
        const c = kind.value;
        const range = c.iterRange === undefined ? DYN : typeOf(c.iterRange, scope);
        const elem = range.kind === 'list' ? range.element : range.kind === 'map' ? range.key : range.name === 'dyn' ? DYN : issue(e, `expression of type '${String(range)}' cannot be range of a comprehension (must be list, map, or dynamic)`);
        const accu = c.accuInit === undefined ? DYN : typeOf(c.accuInit, scope);
        const inner = new Map(scope).set(c.accuVar, accu);
        if (c.iterVar !== '') inner.set(c.iterVar, elem);
        if (c.loopCondition !== undefined) typeOf(c.loopCondition, inner);
        if (c.loopStep !== undefined) typeOf(c.loopStep, inner);
        const outer = new Map(scope).set(c.accuVar, accu);
        return c.result === undefined ? DYN : typeOf(c.result, outer);
      }
      default:
        return DYN;
    }
  }

  const type = typeOf(parsed.expr, new Map());
  return { type, issues };
}
