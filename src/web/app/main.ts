// The browser app: sign-in from the link's fragment, then by path and role:
// `/` today's consultations, `/join/<id>` the patient's device check and call,
// `/call/<id>` the consultation room (a reload there resumes the same seat).
import { adoptToken, api, ApiError, displayName, isClinician, timeOf, type JoinInfo, type Me } from './api.ts';
import { deviceCheck } from './device-check.ts';
import { homeView } from './home.ts';
import { refusal } from './reasons.ts';
import { roomView } from './room.ts';
import { announce, errorBox, h, show } from './ui.ts';

async function boot(): Promise<void> {
  const token = adoptToken();
  if (!token) return;
  const who = document.getElementById('who')!;
  let me: Me;
  try {
    me = await api<Me>('/api/me');
  } catch (err) {
    const r = refusal('auth_failed');
    show(errorBox(r.title, err instanceof ApiError && err.status === 401 ? r.detail : `The clinic’s server did not answer (${(err as Error).message}).`));
    return;
  }
  const clinician = isClinician(me);
  who.replaceChildren(
    h('span', {}, `${await nameOrNothing(me.id)}${clinician ? 'clinician' : me.role === 'patient' ? 'patient' : me.role.replaceAll('_', ' ')}`),
    ' ',
    h('button', { type: 'button', class: 'link', onclick: () => { sessionStorage.clear(); location.href = '/'; } }, 'Sign out'),
  );
  const m = /^\/(join|call)\/([^/]+)\/?$/.exec(location.pathname);
  try {
    if (m) await enterRoom(decodeURIComponent(m[2]!), me);
    else await homeView(me);
  } catch (err) {
    show(errorBox('Something went wrong', (err as Error).message, h('p', {}, h('a', { href: '/' }, 'Back to the start page'))));
  }
}

async function enterRoom(appointmentId: string, me: Me): Promise<void> {
  const clinician = isClinician(me);
  // Only a clinician or a patient takes a seat (the node refuses every other role the same way).
  if (!clinician && me.role !== 'patient') return refused('role_not_allowed');
  announce('Checking the consultation…');
  // Ask first whether a join would be accepted: a refusal is shown before any camera is touched.
  let info: JoinInfo;
  try {
    info = await api<JoinInfo>(`/api/consult/${encodeURIComponent(appointmentId)}`);
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return refused(err.code ?? 'appointment_not_found');
    throw err;
  }
  if (!info.canJoin) return refused(info.reason);

  const appt = await api<any>(`/fhir/Appointment/${encodeURIComponent(appointmentId)}`).catch(() => undefined);
  const refs = ((appt?.participant ?? []) as any[]).map((p) => p?.actor?.reference as string | undefined).filter((r): r is string => !!r);
  const patientRef = refs.find((r) => r.startsWith('Patient/'));
  const otherRef = clinician ? patientRef : refs.find((r) => r.startsWith('Practitioner/'));
  const other = otherRef ? await displayName(otherRef) : undefined;
  const when = timeOf(info.start);
  const title = `Consultation${other ? ` with ${other}` : ''}${when ? ` · ${when}` : ''}`;
  const base = { appointmentId, me, clinician, title, patientRef, signalingPath: info.signaling.path };

  const reloadInCall = sessionStorage.getItem(`resume:${appointmentId}`) !== null;
  if (clinician || reloadInCall) {
    roomView({ ...base, stream: null });
    return;
  }
  const intro = h('p', {}, `Your video consultation${other ? ` with ${other}` : ''}${when ? ` at ${when}` : ''}. Check that your camera, microphone and connection work, then join the waiting room.`);
  const { stream } = await deviceCheck(intro);
  roomView({ ...base, stream });
}

/** "Name · " from the person's record, or nothing when the record has no name. */
async function nameOrNothing(ref: string): Promise<string> {
  const name = await displayName(ref);
  return ['Clinician', 'Patient', 'Participant'].includes(name) ? 'Signed in as ' : `${name} · `;
}

function refused(reason: string | undefined): void {
  const r = refusal(reason);
  document.body.dataset.phase = 'refused';
  show(errorBox(r.title, r.detail, h('p', {}, h('a', { href: '/' }, 'Back to the start page'))));
  announce(r.title);
}

void boot();
