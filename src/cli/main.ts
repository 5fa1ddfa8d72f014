/**
 * The `telemed-edge` command line: one binary, several roles
 * (docs/ARCHITECTURE.md). Each command lives in its own module, loaded on use
 * so that `telemed-edge token` does not pay for the node's start-up.
 */

export interface Command {
  summary: string;
  /** Runs the command; resolves to the process exit code. */
  run(args: string[]): Promise<number>;
}

const commands: Record<string, () => Promise<Command>> = {
  node: async () => (await import('./node.ts')).nodeCommand,
  token: async () => (await import('./token.ts')).tokenCommand,
  links: async () => (await import('./links.ts')).linksCommand,
  audit: async () => (await import('./audit.ts')).auditCommand,
  policy: async () => (await import('./policy.ts')).policyCommand,
  fn: async () => (await import('./fn.ts')).fnCommand,
  simulate: async () => (await import('./simulate.ts')).simulateCommand,
  hub: async () => (await import('./hub.ts')).hubCommand,
};

function usage(): string {
  return [
    'usage: telemed-edge <command> [options]',
    '',
    'commands:',
    '  node                          run the edge node (default of npm start)',
    '  token --role R --sub REF      print a token signed with the node key',
    '  audit verify                  check the hash chain of the audit trail',
    '  policy eval|test|check|conformance   the Rego engine (like opa)',
    '  fn build|check|run            Wasm functions: compile, check, run locally',
    '  hub                           run the central hub (fleet registry, aggregates)',
    '  simulate vitals               stream simulated vitals to a node (--patients --hz --seconds --node)',
    '',
    'Run `telemed-edge <command> --help` for the options of one command.',
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage() + '\n');
    return name === undefined ? 2 : 0;
  }
  const load = commands[name];
  if (load === undefined) {
    process.stderr.write(`telemed-edge: unknown command '${name}'\n\n${usage()}\n`);
    return 2;
  }
  const command = await load();
  return command.run(rest);
}
