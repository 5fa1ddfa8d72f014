// The node's HTTP API as the browser sees it: the bearer token of this tab, /api and /fhir calls.

const TOKEN_KEY = 'token';

/**
 * Takes the token from the sign-in link's fragment (`#token=...`, never sent to a
 * server or written to a log), keeps it for this tab only, and clears the fragment.
 */
export function adoptToken(): string | null {
  const fromHash = new URLSearchParams(location.hash.slice(1)).get('token');
  if (fromHash) {
    sessionStorage.setItem(TOKEN_KEY, fromHash);
    history.replaceState(history.state, '', location.pathname + location.search);
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

export function token(): string {
  return sessionStorage.getItem(TOKEN_KEY) ?? '';
}

/** An HTTP failure with the status and the server's own words (OperationOutcome diagnostics or `{error}`). */
export class ApiError extends Error {
  constructor(readonly status: number, message: string, readonly code?: string) {
    super(message);
  }
}

export async function api<T = any>(path: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
  const headers: Record<string, string> = { authorization: `Bearer ${token()}`, accept: 'application/fhir+json, application/json' };
  if (init.body !== undefined) headers['content-type'] = 'application/fhir+json';
  const r = await fetch(path, { method: init.method ?? 'GET', headers, ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}) });
  if (!r.ok) {
    const body: any = await r.json().catch(() => ({}));
    const msg = body?.issue?.[0]?.diagnostics ?? body?.error?.message ?? r.statusText;
    throw new ApiError(r.status, String(msg), body?.error?.code ?? body?.issue?.[0]?.code);
  }
  return r.status === 204 ? (undefined as T) : ((await r.json()) as T);
}

export interface Me { id: string; role: string }
export const isClinician = (me: Me): boolean => me.role === 'authorized_medical_staff';

/** GET /api/consult/:id (src/consult/PROTOCOL.md): whether a join would be accepted now, and why not. */
export interface JoinInfo {
  appointmentId: string;
  status: string;
  start?: string;
  end?: string;
  role: 'clinician' | 'patient';
  canJoin: boolean;
  reason?: string;
  inCall: boolean;
  waiting?: number;
  signaling: { path: string; protocol: number };
}

const names = new Map<string, Promise<string>>();

/** A person's display name from their Practitioner or Patient record (falls back to a neutral label). */
export function displayName(ref: string): Promise<string> {
  let p = names.get(ref);
  if (!p) {
    const fallback = ref.startsWith('Practitioner/') ? 'Clinician' : ref.startsWith('Patient/') ? 'Patient' : 'Participant';
    p = api<any>(`/fhir/${ref}`)
      .then((r) => {
        const n = r?.name?.[0];
        if (!n) return fallback;
        const text = n.text ?? [...(n.prefix ?? []), ...(n.given ?? []), n.family].filter(Boolean).join(' ');
        return text || fallback;
      })
      .catch(() => fallback);
    names.set(ref, p);
  }
  return p;
}

/** The local calendar day, YYYY-MM-DD. */
export function today(d = new Date()): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

export const timeOf = (iso: string | undefined): string =>
  iso ? new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }) : '';
