/**
 * Exactly-once ingest: per (patient, device) the highest sequence number
 * committed, kept in `vitals_devices` and advanced in the same transaction
 * as the Observations it covers. A sample at or below it is a duplicate (a
 * resend after a reconnect) and is dropped; above it but not above the last
 * accepted one it is going backwards (an error). Writes of one device run
 * in order through the store's group commit; if one fails, every later write
 * of that device already queued refuses too (its generation moved on), so
 * the mark can never jump over samples that were not stored.
 */
import type { Statement } from 'better-sqlite3';
import type { Db, Migration, Store } from '../store/index.ts';
import type { FhirRepository, Resource } from '../fhir/index.ts';
import type { Sample } from './protocol.ts';

/** The lead adds these to the node's `store.migrate([...])`. */
export const VITALS_MIGRATIONS: Migration[] = [
  {
    name: 'vitals-1-devices',
    sql: `CREATE TABLE vitals_devices (
      patient TEXT NOT NULL,
      device TEXT NOT NULL,
      acked INTEGER NOT NULL,
      updated_at INTEGER NOT NULL,
      PRIMARY KEY (patient, device)
    ) STRICT, WITHOUT ROWID;`,
  },
];

/** One device of one patient: what is committed, what is accepted, the tail of its writes. */
export class DeviceState {
  readonly patient: string;
  readonly device: string;
  /** Highest sequence number committed (-1: none yet). */
  committed: number;
  /** Highest sequence number accepted for writing (≥ committed). */
  accepted: number;
  /** Bumped when a write fails: queued writes of the old generation refuse. */
  gen = 0;
  /** Settles after the last queued write of this device has settled. */
  tail: Promise<unknown> = Promise.resolve();
  /** The socket streaming for this device now, if any (one at a time). */
  owner: object | undefined;

  constructor(patient: string, device: string, committed: number) {
    this.patient = patient;
    this.device = device;
    this.committed = committed;
    this.accepted = committed;
  }
}

export type Classified =
  | { kind: 'fresh'; sample: Sample }
  | { kind: 'duplicate'; sample: Sample }
  | { kind: 'backwards'; sample: Sample };

export class StaleWriteError extends Error {
  override readonly name = 'StaleWriteError';
}

export class Ledger {
  readonly #store: Store;
  readonly #repo: FhirRepository;
  readonly #devices = new Map<string, DeviceState>();
  #select: Statement<unknown[]> | undefined;
  #upsert: Statement<unknown[]> | undefined;

  readonly #audit: ((db: Db, state: DeviceState, written: Resource[]) => void) | undefined;

  /** `audit` records each batch in the audit trail, in the batch's own transaction. */
  constructor(store: Store, repo: FhirRepository, audit?: (db: Db, state: DeviceState, written: Resource[]) => void) {
    this.#store = store;
    this.#repo = repo;
    this.#audit = audit;
  }

  #stmts() {
    this.#select ??= this.#store.db.prepare('SELECT acked FROM vitals_devices WHERE patient = ? AND device = ?').pluck();
    this.#upsert ??= this.#store.db.prepare(
      'INSERT INTO vitals_devices (patient, device, acked, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT (patient, device) DO UPDATE SET acked = max(acked, excluded.acked), updated_at = excluded.updated_at',
    );
    return { select: this.#select, upsert: this.#upsert };
  }

  /** The state of a device (its committed mark read from the store the first time). */
  device(patient: string, device: string): DeviceState {
    const key = `${patient}\u0000${device}`;
    let s = this.#devices.get(key);
    if (!s) {
      const acked = this.#stmts().select.get(patient, device) as number | undefined;
      s = new DeviceState(patient, device, acked ?? -1);
      this.#devices.set(key, s);
    }
    return s;
  }

  /** Sorts checked samples (in frame order) into fresh, duplicate and backwards; fresh ones advance `accepted`. */
  classify(state: DeviceState, samples: Sample[]): Classified[] {
    return samples.map((sample) => {
      if (sample.seq <= state.committed) return { kind: 'duplicate', sample };
      if (sample.seq <= state.accepted) return { kind: 'backwards', sample };
      state.accepted = sample.seq;
      return { kind: 'fresh', sample };
    });
  }

  /**
   * Writes the fresh samples of one frame as Observations and moves the
   * device's mark, in one group-committed transaction; resolves after COMMIT
   * with the device's committed mark. On failure the device's accepted mark
   * falls back to the committed one (the device resends from its last ack).
   */
  write(state: DeviceState, fresh: Sample[], build: (fresh: Sample[]) => Resource[]): Promise<number> {
    const gen = state.gen;
    const last = fresh.length > 0 ? fresh[fresh.length - 1]!.seq : undefined;
    const before = state.tail;
    const run = async (): Promise<number> => {
      if (last === undefined) {
        await before;
        return state.committed;
      }
      try {
        await this.#store.write((db) => {
          if (state.gen !== gen) throw new StaleWriteError('an earlier write of this device failed');
          try {
            const now = Date.now();
            const written = build(fresh).map((r) => this.#repo.create(r, now).stored.resource);
            this.#audit?.(db, state, written);
            this.#stmts().upsert.run(state.patient, state.device, last, now);
          } catch (err) {
            state.gen++;
            throw err;
          }
        });
      } catch (err) {
        if (state.gen === gen) state.gen++;
        state.accepted = state.committed;
        throw err;
      }
      if (last > state.committed) state.committed = last;
      return state.committed;
    };
    // queued now (keeps the group-commit order), settled in order
    const p = run();
    state.tail = p.catch(() => undefined);
    return p;
  }

  /** Forgets devices nobody streams for (their marks stay in the table). */
  prune(): void {
    for (const [k, s] of this.#devices) if (!s.owner && s.committed === s.accepted) this.#devices.delete(k);
  }
}
