// The start page after sign-in: today's consultations (the clinician's, or the patient's own).
import { api, displayName, isClinician, timeOf, today, type Me } from './api.ts';
import { h, show } from './ui.ts';

export async function homeView(me: Me): Promise<void> {
  const clinician = isClinician(me);
  const bundle = await api<any>(`/fhir/Appointment?date=${today()}&actor=${encodeURIComponent(me.id)}&_sort=date&_count=50`);
  const list = ((bundle.entry ?? []) as Array<{ resource: any }>).map((e) => e.resource);
  const items = await Promise.all(
    list.map(async (a) => {
      const other = (a.participant ?? []).map((p: any) => p?.actor?.reference as string | undefined).find((r: string | undefined) => r && r !== me.id && r.startsWith(clinician ? 'Patient/' : 'Practitioner/'));
      const name = other ? await displayName(other) : 'Consultation';
      const open = a.status === 'booked' || a.status === 'arrived' || a.status === 'checked-in';
      const href = clinician ? `/call/${encodeURIComponent(a.id)}` : `/join/${encodeURIComponent(a.id)}`;
      return h(
        'li',
        { class: 'card appt' },
        h('span', { class: 'appt-time' }, timeOf(a.start)),
        h('span', { class: 'appt-who' }, h('strong', {}, name), h('br'), h('span', { class: 'muted' }, `${a.serviceType?.[0]?.text ?? 'Consultation'} · ${statusText(a.status)}`)),
        open ? h('a', { class: 'button primary', href, 'aria-label': `${clinician ? 'Open the room' : 'Join'}: ${name} at ${timeOf(a.start)}` }, clinician ? 'Open room' : 'Join') : null,
      );
    }),
  );
  show(
    h('h2', {}, clinician ? "Today's consultations" : 'Your consultations today'),
    items.length ? h('ul', { class: 'plain' }, ...items) : h('p', { class: 'muted' }, 'No consultations today.'),
  );
}

function statusText(s: string): string {
  return ({ booked: 'booked', arrived: 'arrived', 'checked-in': 'checked in', fulfilled: 'finished', cancelled: 'cancelled', noshow: 'missed' } as Record<string, string>)[s] ?? s;
}
