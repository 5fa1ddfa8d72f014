/**
 * `telemed-edge policy …`: the Rego engine from the command line, like `opa`.
 *   eval -d <dir|bundle.tar.gz> [-i input.json] '<query>'   like `opa eval --format json`
 *   test <dir> [-v]                                         like `opa test`
 *   check <dir>                                             parse and compile, OPA error codes
 *   conformance <dir> [-v] [--category C]                   OPA's YAML conformance cases
 */
import { readFileSync } from 'node:fs';
import {
  bundleFromFiles, compileRego, describeError, formatTestReport, loadBundle, mergeBundles, parseJSON, RegoError, RegoErrors, runBundleTests, runConformance, stringifyJS, toJS,
  type Bundle, type Value,
} from '../policy/index.ts';

const USAGE = [
  'usage: telemed-edge policy <subcommand>',
  "  eval -d <dir|bundle.tar.gz> [-i input.json] '<query>'   evaluate a query (opa eval --format json)",
  '  test <dir> [-v]                                          run test_* rules (opa test)',
  '  check <dir>                                              report parse/compile errors with file:line:col',
  '  conformance <dir> [-v] [--category NAME]                 run OPA YAML conformance cases',
].join('\n');

const out = (s: string): void => void process.stdout.write(s + '\n');
const err = (s: string): void => void process.stderr.write(s + '\n');

function loadAll(sources: string[]): Bundle {
  return mergeBundles(sources.map((s) => loadBundle(s)));
}

async function evalCmd(args: string[]): Promise<number> {
  const data: string[] = [];
  let inputFile: string | undefined;
  let query: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '-d' || a === '--data' || a === '-b' || a === '--bundle') data.push(args[++i] ?? '');
    else if (a === '-i' || a === '--input') inputFile = args[++i];
    else if (a === '--format' || a === '-f') i++;
    else query = a;
  }
  if (query === undefined) {
    err('policy eval: missing query');
    return 2;
  }
  try {
    const bundle = data.length ? loadAll(data) : bundleFromFiles([]);
    const policy = compileRego(bundle.modules.map((m) => ({ file: m.path, text: m.text })));
    const input: Value | undefined = inputFile === undefined ? undefined : parseJSON(readFileSync(inputFile, 'utf8'));
    const rows = policy.evaluateExpressions(query, { input, data: bundle.data, print: (m) => err(m) });
    if (rows.length === 0) {
      out('{}');
      return 0;
    }
    const result = rows.map((r) => {
      const o: Record<string, unknown> = { expressions: r.expressions.map((e) => ({ value: toJS(e.value), text: e.text, location: e.location })) };
      if (r.bindings.size > 0) o.bindings = Object.fromEntries([...r.bindings].map(([k, v]) => [k, toJS(v)]));
      return o;
    });
    out(stringifyJS({ result }, 2, 0));
    return 0;
  } catch (e) {
    out(stringifyJS({ errors: errorsJSON(e) }, 2, 0));
    return 1;
  }
}

function errorsJSON(e: unknown): unknown[] {
  const list = e instanceof RegoErrors ? e.errors : e instanceof RegoError ? [e] : [];
  if (list.length === 0) return [{ message: e instanceof Error ? e.message : String(e) }];
  return list.map((x) => ({ code: x.code, message: x.message, ...(x.loc ? { location: { file: x.loc.file, row: x.loc.row, col: x.loc.col } } : {}) }));
}

async function checkCmd(args: string[]): Promise<number> {
  const dirs = args.filter((a) => !a.startsWith('-'));
  if (dirs.length === 0) {
    err('policy check: missing <dir>');
    return 2;
  }
  try {
    const bundle = loadAll(dirs);
    compileRego(bundle.modules.map((m) => ({ file: m.path, text: m.text })));
    return 0;
  } catch (e) {
    const n = e instanceof RegoErrors ? e.errors.length : 1;
    err(`${n} error${n === 1 ? '' : 's'} occurred:`);
    err(describeError(e));
    return 1;
  }
}

async function testCmd(args: string[]): Promise<number> {
  const verbose = args.includes('-v') || args.includes('--verbose');
  const dirs = args.filter((a) => !a.startsWith('-'));
  if (dirs.length === 0) {
    err('policy test: missing <dir>');
    return 2;
  }
  try {
    const r = runBundleTests(loadAll(dirs));
    for (const line of formatTestReport(r, verbose)) out(line);
    return r.failed + r.errored === 0 && r.passed > 0 ? 0 : 2;
  } catch (e) {
    err(describeError(e));
    return 1;
  }
}

async function conformance(args: string[]): Promise<number> {
  let dir: string | undefined;
  let verbose = false;
  const only: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '-v' || a === '--verbose') verbose = true;
    else if (a === '--category') only.push(args[++i] ?? '');
    else dir = a;
  }
  if (dir === undefined) {
    err('policy conformance: missing <dir>');
    return 2;
  }
  const { cases, categories } = runConformance(dir, only.length ? (c) => only.includes(c) : undefined);
  for (const c of categories) out(`${c.failed === 0 ? 'PASS' : 'FAIL'} ${c.category} ${c.passed}/${c.passed + c.failed}`);
  if (verbose) {
    for (const c of cases) if (!c.ok) out(`  x ${c.category}/${c.file}#${c.index} ${c.note}\n      ${c.reason}`);
  }
  const passed = cases.filter((c) => c.ok).length;
  out(`conformance: ${passed} passed, ${cases.length - passed} failed`);
  return cases.length - passed === 0 ? 0 : 1;
}

export const policyCommand: { summary: string; run(args: string[]): Promise<number> } = {
  summary: 'the Rego engine: eval, test, check, conformance (like opa)',
  async run(args: string[]): Promise<number> {
    const [sub, ...rest] = args;
    switch (sub) {
      case 'eval':
        return evalCmd(rest);
      case 'test':
        return testCmd(rest);
      case 'check':
        return checkCmd(rest);
      case 'conformance':
        return conformance(rest);
      default:
        out(USAGE);
        return sub === undefined || sub === '--help' || sub === '-h' ? 0 : 2;
    }
  },
};
