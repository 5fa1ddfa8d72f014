/**
 * What the consultation service tells the rest of the node (vitals fan-out,
 * functions, the outbox): typed events, emitted safely — a listener's
 * exception is logged and never reaches the emitter (mediasoup's safeEmit).
 * Events carry FHIR references for in-node use; they never go to logs.
 */
import type { Logger } from 'pino';
import type { CallSummary } from './quality.ts';

export interface ConsultEvents {
  /** The first admit: the call's Encounter is in progress. */
  'call-started': { appointmentId: string; encounter: string; patient: string; clinician: string };
  /** The clinician ended the call (the Encounter is finished, when there was one). */
  'call-ended': { appointmentId: string; encounter?: string; reason: string; summary: CallSummary };
  /** A seat was admitted (a clinician at join, a patient at admit, either at resume). */
  admitted: { appointmentId: string; seat: string; user: string; role: 'clinician' | 'patient'; resumed: boolean };
  /** A seat was freed (left, replaced, timed out, refused, or the room closed). */
  left: { appointmentId: string; seat: string; user: string; role: 'clinician' | 'patient'; reason: string };
}

export type ConsultEventName = keyof ConsultEvents;
export type Listener<K extends ConsultEventName> = (event: ConsultEvents[K]) => void;

export class ConsultEmitter {
  readonly #listeners = new Map<ConsultEventName, Set<(e: never) => void>>();
  readonly #log: Logger;

  constructor(log: Logger) {
    this.#log = log;
  }

  on<K extends ConsultEventName>(name: K, listener: Listener<K>): () => void {
    let set = this.#listeners.get(name);
    if (!set) this.#listeners.set(name, (set = new Set()));
    set.add(listener as (e: never) => void);
    return () => set.delete(listener as (e: never) => void);
  }

  emit<K extends ConsultEventName>(name: K, event: ConsultEvents[K]): void {
    for (const l of this.#listeners.get(name) ?? []) {
      try {
        (l as Listener<K>)(event);
      } catch (err) {
        this.#log.error({ event: name, err: { type: (err as Error)?.name } }, 'a consult event listener failed');
      }
    }
  }
}
