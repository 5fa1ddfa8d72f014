/**
 * Runs a bundle's `test_*` rules, like `opa test`
 * (https://www.openpolicyagent.org/docs/policy-testing/). Used by
 * `telemed-edge policy test` and by hot reload, which refuses a bundle whose
 * own tests fail.
 */
import type { Bundle } from './bundle.ts';
import { compile } from './rego/index.ts';
import { describeError } from './rego-policy.ts';

export interface TestResult {
  /** `data.<package>.test_<name>`. */
  name: string;
  file: string;
  status: 'PASS' | 'FAIL' | 'ERROR';
  /** Error text for ERROR. */
  detail: string;
  durationUs: number;
  /** `print` output of the test. */
  output: string[];
}

export interface TestReport {
  results: TestResult[];
  passed: number;
  failed: number;
  errored: number;
}

/** Compiles every module of the bundle (tests included) and evaluates each `test_*` rule; a test passes when it is true. */
export function runBundleTests(bundle: Bundle): TestReport {
  const policy = compile(bundle.modules.map((m) => ({ file: m.path, text: m.text })));
  const results: TestResult[] = [];
  for (const mod of policy.modules) {
    const seen = new Set<string>();
    for (const r of mod.rules) {
      const h = r.head.ref[0];
      if (h?.t !== 'var' || !h.name.startsWith('test_') || r.head.args || r.head.ref.length > 1 || seen.has(h.name)) continue;
      seen.add(h.name);
      const name = ['data', ...mod.pkg, h.name].join('.');
      const output: string[] = [];
      const start = process.hrtime.bigint();
      let status: TestResult['status'];
      let detail = '';
      try {
        const rows = policy.evaluate(`__result__ = ${name}`, { data: bundle.data, print: (m) => output.push(m) });
        status = rows[0]?.get('__result__') === true ? 'PASS' : 'FAIL';
      } catch (e) {
        status = 'ERROR';
        detail = describeError(e);
      }
      results.push({ name, file: mod.file, status, detail, durationUs: Number(process.hrtime.bigint() - start) / 1000, output });
    }
  }
  return {
    results,
    passed: results.filter((r) => r.status === 'PASS').length,
    failed: results.filter((r) => r.status === 'FAIL').length,
    errored: results.filter((r) => r.status === 'ERROR').length,
  };
}

/** `opa test`-style text: failures (or everything with `verbose`), then PASS/FAIL/ERROR counts. */
export function formatTestReport(report: TestReport, verbose: boolean): string[] {
  const lines: string[] = [];
  let lastFile = '';
  for (const t of report.results) {
    if (t.status === 'PASS' && !verbose) continue;
    if (t.file !== lastFile) {
      lines.push(`${t.file}:`);
      lastFile = t.file;
    }
    const time = t.durationUs < 1000 ? `${t.durationUs.toFixed(0)}µs` : `${(t.durationUs / 1000).toFixed(2)}ms`;
    lines.push(`${t.name}: ${t.status} (${time})`);
    if (t.detail) lines.push(`  ${t.detail}`);
    for (const o of t.output) lines.push(`  ${o}`);
  }
  const total = report.results.length;
  if (lines.length) lines.push('-'.repeat(80));
  if (report.passed) lines.push(`PASS: ${report.passed}/${total}`);
  if (report.failed) lines.push(`FAIL: ${report.failed}/${total}`);
  if (report.errored) lines.push(`ERROR: ${report.errored}/${total}`);
  if (total === 0) lines.push('no tests found');
  return lines;
}
