/**
 * `npm run bench -- <name> [<name> ...]`: runs bench/<name>.ts (each exports
 * `run(): Promise<void>` and prints its figures and ratios against baselines
 * measured in the same run). Without a name, lists what exists.
 * Benchmarks are not tests: nothing here asserts a timing.
 */
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));
const available = readdirSync(here)
  .filter((f) => f.endsWith('.ts') && f !== 'run.ts' && !f.startsWith('_'))
  .map((f) => f.slice(0, -3))
  .sort();

const names = process.argv.slice(2);
if (names.length === 0) {
  process.stdout.write(`usage: npm run bench -- <name>\navailable: ${available.join(', ')}\n`);
  process.exit(2);
}
for (const name of names) {
  if (!available.includes(name)) {
    process.stderr.write(`bench: unknown benchmark '${name}' (available: ${available.join(', ')})\n`);
    process.exit(2);
  }
}
for (const name of names) {
  process.stdout.write(`\n=== bench ${name} (${new Date().toISOString()}, node ${process.version}) ===\n`);
  const mod = (await import(path.join(here, `${name}.ts`))) as { run: () => Promise<void> };
  await mod.run();
}
