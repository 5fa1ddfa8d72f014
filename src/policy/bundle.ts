/**
 * OPA bundles (https://www.openpolicyagent.org/docs/management-bundles/):
 * a directory or a `.tar.gz` holding `*.rego`, `data.json` / `data.yaml`
 * files (placed at their directory's path under `data`) and `.manifest`.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import YAML from 'yaml';
import { parseJSON } from './rego/json.ts';
import { fromJS, RObject, type Value } from './rego/value.ts';

export interface BundleFile {
  /** Path inside the bundle, with forward slashes, e.g. `healthcare/policy.rego`. */
  path: string;
  text: string;
}

export interface Bundle {
  /** Rego modules (test files included; `policy test` runs them, decisions ignore them). */
  modules: BundleFile[];
  /** The base document assembled from the data files. */
  data: Value;
  manifest: { revision?: string; roots?: string[]; [k: string]: unknown };
  /** Where it came from (directory or archive path), for messages. */
  source: string;
}

/** Reads a bundle from a directory, a `.tar.gz` / `.tgz` archive, or a single `.rego` / `.json` / `.yaml` file. */
export function loadBundle(source: string): Bundle {
  if (statSync(source).isDirectory()) return bundleFromFiles(readDir(source), source);
  const name = path.basename(source);
  if (name.endsWith('.rego')) return bundleFromFiles([{ path: name, text: readFileSync(source, 'utf8') }], source);
  if (/\.(json|ya?ml)$/.test(name)) return bundleFromFiles([{ path: name.endsWith('.json') ? 'data.json' : 'data.yaml', text: readFileSync(source, 'utf8') }], source);
  return bundleFromFiles(readTarGz(source), source);
}

/** Several bundles as one: modules side by side, data documents merged. */
export function mergeBundles(bundles: Bundle[]): Bundle {
  let data: Value = new RObject();
  for (const b of bundles) data = merge(data, [], b.data, b.source);
  return {
    modules: bundles.flatMap((b) => b.modules),
    data,
    manifest: bundles.length === 1 ? bundles[0]!.manifest : {},
    source: bundles.map((b) => b.source).join(','),
  };
}

/** Builds a bundle from in-memory files (used for archives and tests). */
export function bundleFromFiles(files: BundleFile[], source = 'memory'): Bundle {
  const modules: BundleFile[] = [];
  let data: Value = new RObject();
  let manifest: Bundle['manifest'] = {};
  for (const f of files.sort((a, b) => (a.path < b.path ? -1 : 1))) {
    const base = path.posix.basename(f.path);
    const dir = path.posix.dirname(f.path);
    const segs = dir === '.' || dir === '' ? [] : dir.split('/').filter((s) => s !== '');
    if (f.path.endsWith('.rego')) modules.push(f);
    else if (base === 'data.json') data = merge(data, segs, parseJSON(f.text), f.path);
    else if (base === 'data.yaml' || base === 'data.yml') data = merge(data, segs, fromJS(YAML.parse(f.text, { intAsBigInt: true })), f.path);
    else if (base === '.manifest') manifest = JSON.parse(f.text) as Bundle['manifest'];
  }
  return { modules, data, manifest, source };
}

function merge(doc: Value, segs: string[], value: Value, file: string): Value {
  if (segs.length === 0) {
    if (!(doc instanceof RObject) || !(value instanceof RObject)) return value;
    const out = doc.clone();
    for (const [k, v] of value.entries()) {
      const cur = out.get(k);
      out.set(k, cur instanceof RObject && v instanceof RObject ? merge(cur, [], v, file) : v);
    }
    return out;
  }
  const out = doc instanceof RObject ? doc.clone() : new RObject();
  const [head, ...rest] = segs as [string, ...string[]];
  out.set(head, merge(out.get(head) ?? new RObject(), rest, value, file));
  return out;
}

function readDir(root: string): BundleFile[] {
  const out: BundleFile[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const full = path.join(dir, name);
      if (statSync(full).isDirectory()) {
        if (name === 'node_modules' || (name.startsWith('.') && name !== '.manifest')) continue;
        walk(full);
      } else if (name.endsWith('.rego') || /^data\.(json|ya?ml)$/.test(name) || name === '.manifest') {
        out.push({ path: path.relative(root, full).split(path.sep).join('/'), text: readFileSync(full, 'utf8') });
      }
    }
  };
  walk(root);
  return out;
}

/** Minimal ustar reader: regular files only, with GNU long names. */
export function readTarGz(file: string): BundleFile[] {
  const buf = gunzipSync(readFileSync(file), { maxOutputLength: 256 * 1024 * 1024 });
  const out: BundleFile[] = [];
  let off = 0;
  let longName: string | undefined;
  while (off + 512 <= buf.length) {
    const header = buf.subarray(off, off + 512);
    if (header.every((b) => b === 0)) break;
    const field = (a: number, n: number): string => header.subarray(a, a + n).toString('utf8').replace(/\0.*$/s, '');
    let name = field(0, 100);
    const prefix = field(345, 155);
    if (prefix) name = prefix + '/' + name;
    const size = parseInt(field(124, 12).trim() || '0', 8);
    const type = String.fromCharCode(header[156] ?? 48);
    const body = buf.subarray(off + 512, off + 512 + size);
    off += 512 + Math.ceil(size / 512) * 512;
    if (type === 'L') {
      longName = body.toString('utf8').replace(/\0.*$/s, '');
      continue;
    }
    if (longName) (name = longName), (longName = undefined);
    if (type !== '0' && type !== '\0') continue;
    name = name.replace(/^\.?\//, '');
    out.push({ path: name, text: body.toString('utf8') });
  }
  return out;
}
