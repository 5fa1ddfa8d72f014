/**
 * `telemed-edge policy …`: the Rego engine from the command line, like `opa`.
 *   conformance <dir> [-v] [--category C]   run OPA's YAML conformance cases
 */
import { runConformance } from '../policy/conformance.ts';

const USAGE = [
  'usage: telemed-edge policy <subcommand>',
  '  conformance <dir> [-v] [--category NAME]   run OPA YAML conformance cases',
].join('\n');

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
    process.stderr.write('policy conformance: missing <dir>\n');
    return 2;
  }
  const { cases, categories } = runConformance(dir, only.length ? (c) => only.includes(c) : undefined);
  for (const c of categories) {
    const total = c.passed + c.failed;
    process.stdout.write(`${c.failed === 0 ? 'PASS' : 'FAIL'} ${c.category} ${c.passed}/${total}\n`);
  }
  if (verbose) {
    for (const c of cases) {
      if (!c.ok) process.stdout.write(`  x ${c.category}/${c.file}#${c.index} ${c.note}\n      ${c.reason}\n`);
    }
  }
  const passed = cases.filter((c) => c.ok).length;
  process.stdout.write(`conformance: ${passed} passed, ${cases.length - passed} failed\n`);
  return cases.length - passed === 0 ? 0 : 1;
}

export const policyCommand: { summary: string; run(args: string[]): Promise<number> } = {
  summary: 'the Rego engine: eval, test, check, conformance (like opa)',
  async run(args: string[]): Promise<number> {
    const [sub, ...rest] = args;
    switch (sub) {
      case 'conformance':
        return conformance(rest);
      default:
        process.stdout.write(USAGE + '\n');
        return sub === undefined || sub === '--help' ? 0 : 2;
    }
  },
};
