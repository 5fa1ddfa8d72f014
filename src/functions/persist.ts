/**
 * Where registered functions are kept across restarts: behind an interface,
 * with an in-memory twin for tests and the node's SQLite store for the node.
 * Modules are hospital code, not patient data, so they are stored unsealed.
 */
import type { Migration, Store } from '../store/index.ts';
import type { FunctionLimits } from './registry.ts';
import type { Trigger } from './triggers.ts';

/** A registration as kept: the module, the limits it asked for, whether it is enabled. */
export interface StoredFunction {
  name: string;
  wasm: Uint8Array;
  limits: Partial<FunctionLimits>;
  enabled: boolean;
  registeredAt: string;
  trigger?: Trigger;
}

export interface FunctionStore {
  /** Every kept registration, by name. */
  load(): StoredFunction[];
  /** Keeps (or replaces) a registration; resolves once it is durable. */
  save(f: StoredFunction): Promise<void>;
  setEnabled(name: string, enabled: boolean): Promise<void>;
  delete(name: string): Promise<void>;
}

export class MemoryFunctionStore implements FunctionStore {
  readonly #rows = new Map<string, StoredFunction>();

  load(): StoredFunction[] {
    return [...this.#rows.values()].map((f) => ({ ...f }));
  }

  async save(f: StoredFunction): Promise<void> {
    this.#rows.set(f.name, { ...f, wasm: f.wasm.slice() });
  }

  async setEnabled(name: string, enabled: boolean): Promise<void> {
    const f = this.#rows.get(name);
    if (f) f.enabled = enabled;
  }

  async delete(name: string): Promise<void> {
    this.#rows.delete(name);
  }
}

export const FUNCTION_MIGRATIONS: Migration[] = [
  {
    name: 'functions-1-registry',
    sql: `CREATE TABLE function_registry (
      name TEXT PRIMARY KEY, wasm BLOB NOT NULL, limits TEXT NOT NULL,
      enabled INTEGER NOT NULL, registered_at TEXT NOT NULL) STRICT;`,
  },
  { name: 'functions-2-trigger', sql: 'ALTER TABLE function_registry ADD COLUMN trigger TEXT;' },
];

/** Registrations in the node's SQLite store (apply {@link FUNCTION_MIGRATIONS} first). */
export class SqliteFunctionStore implements FunctionStore {
  readonly #store: Store;

  constructor(store: Store) {
    this.#store = store;
  }

  load(): StoredFunction[] {
    const rows = this.#store.db
      .prepare<[], { name: string; wasm: Buffer; limits: string; enabled: number; registered_at: string; trigger: string | null }>(
        'SELECT name, wasm, limits, enabled, registered_at, trigger FROM function_registry ORDER BY name')
      .all();
    return rows.map((r) => ({
      name: r.name, wasm: new Uint8Array(r.wasm), limits: JSON.parse(r.limits) as Partial<FunctionLimits>,
      enabled: r.enabled === 1, registeredAt: r.registered_at,
      ...(r.trigger ? { trigger: JSON.parse(r.trigger) as Trigger } : {}),
    }));
  }

  save(f: StoredFunction): Promise<void> {
    return this.#store.write((db) => {
      db.prepare(`INSERT INTO function_registry (name, wasm, limits, enabled, registered_at, trigger) VALUES (?, ?, ?, ?, ?, ?)
        ON CONFLICT (name) DO UPDATE SET wasm = excluded.wasm, limits = excluded.limits, enabled = excluded.enabled,
          registered_at = excluded.registered_at, trigger = excluded.trigger`)
        .run(f.name, Buffer.from(f.wasm), JSON.stringify(f.limits), f.enabled ? 1 : 0, f.registeredAt, f.trigger ? JSON.stringify(f.trigger) : null);
    });
  }

  setEnabled(name: string, enabled: boolean): Promise<void> {
    return this.#store.write((db) => {
      db.prepare('UPDATE function_registry SET enabled = ? WHERE name = ?').run(enabled ? 1 : 0, name);
    });
  }

  delete(name: string): Promise<void> {
    return this.#store.write((db) => {
      db.prepare('DELETE FROM function_registry WHERE name = ?').run(name);
    });
  }
}
