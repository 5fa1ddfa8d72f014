/** Minimal flag parsing for the CLI: `--name value`, `--name=value`, `--flag`, and positionals. */
export interface ParsedArgs {
  flags: Record<string, string | true>;
  positionals: string[];
}

export function parseArgs(args: string[], booleans: readonly string[] = []): ParsedArgs {
  const flags: Record<string, string | true> = {};
  const positionals: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') {
      positionals.push(...args.slice(i + 1));
      break;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      if (eq > 0) flags[a.slice(2, eq)] = a.slice(eq + 1);
      else if (booleans.includes(a.slice(2)) || i + 1 >= args.length || args[i + 1]!.startsWith('--')) flags[a.slice(2)] = true;
      else flags[a.slice(2)] = args[++i]!;
    } else if (a.startsWith('-') && a.length === 2 && i + 1 < args.length) {
      flags[a.slice(1)] = args[++i]!;
    } else positionals.push(a);
  }
  return { flags, positionals };
}
