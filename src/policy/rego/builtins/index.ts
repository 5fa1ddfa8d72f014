/**
 * The builtin table: every family registers its declarations and
 * implementations here. A call to a name missing from this table is a
 * compile error.
 */
import type { BuiltinArity } from '../compile.ts';
import { family as core } from './core.ts';
import { family as crypto } from './crypto.ts';
import { family as encoding } from './encoding.ts';
import { family as jsonschema } from './jsonschema.ts';
import { family as jwt } from './jwt.ts';
import { family as misc } from './misc.ts';
import { family as net } from './net.ts';
import { family as objects, walkIter } from './objects.ts';
import { family as regex } from './regex.ts';
import { family as rego } from './rego.ts';
import { family as time } from './time.ts';
import { family as units } from './units.ts';
import { family as uri } from './uri.ts';
import { family as strings } from './strings.ts';
import type { Value } from '../value.ts';
import type { BuiltinDecl, BuiltinImpl, Family } from './types.ts';

const families: Family[] = [core, strings, objects, encoding, regex, time, units, net, misc, crypto, jwt, uri, jsonschema, rego];

/** Builtins that yield several values, lazily. */
export const relationImpls = new Map<string, (args: Value[]) => Iterable<Value>>([['walk', (args) => walkIter(args[0] ?? null)]]);
export const relations = new Set(relationImpls.keys());

/** Declared but implemented by the evaluator itself. */
const special: BuiltinDecl[] = [{ name: 'print', arity: -1 }];

export const declarations = new Map<string, BuiltinDecl>();
export const implementations = new Map<string, BuiltinImpl>();

for (const f of families) {
  for (const d of f.decls) declarations.set(d.name, d);
  for (const [name, impl] of Object.entries(f.impls)) implementations.set(name, impl);
}
for (const d of special) declarations.set(d.name, d);

export const builtinArity: BuiltinArity = {
  arity: (name) => declarations.get(name)?.arity,
};

export type { BuiltinContext, BuiltinDecl, BuiltinImpl } from './types.ts';
