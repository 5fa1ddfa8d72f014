// The start page after sign-in: today's consultations (the clinician's, or the patient's own).
import { api, displayName, isClinician, timeOf, today, type JoinInfo, type Me } from './api.ts';
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
      // The clinician sees at a glance who is already waiting or in a call.
      const info = clinician && open ? await api<JoinInfo>(`/api/consult/${encodeURIComponent(a.id)}`).catch(() => undefined) : undefined;
      const badge = info?.waiting ? h('span', { class: 'badge', 'data-testid': 'waiting-badge' }, `${info.waiting} waiting`) : info?.inCall ? h('span', { class: 'badge quiet' }, 'call in progress') : null;
      return h(
        'li',
        { class: 'card appt' },
        h('span', { class: 'appt-time' }, timeOf(a.start)),
        h('span', { class: 'appt-who' }, h('strong', {}, name), ' ', badge, h('br'), h('span', { class: 'muted' }, `${a.serviceType?.[0]?.text ?? 'Consultation'} · ${statusText(a.status)}`)),
        open ? h('a', { class: 'button primary', href, 'aria-label': `${clinician ? 'Open the room' : 'Join'}: ${name} at ${timeOf(a.start)}${info?.waiting ? `, ${info.waiting} waiting` : ''}` }, clinician ? 'Open room' : 'Join') : null,
      );
    }),
  );
  const list2 = items.length ? h('ul', { class: 'plain' }, ...items) : h('p', { class: 'muted' }, 'No consultations today.');
  const existing = document.getElementById('today');
  if (existing) {
    const focused = existing.contains(document.activeElement) ? (document.activeElement as HTMLElement).getAttribute('href') : null;
    const next = h('div', { id: 'today' }, list2);
    existing.replaceWith(next);
    if (focused) next.querySelector<HTMLElement>(`a[href="${CSS.escape(focused)}"]`)?.focus();
  }
  else show(h('h2', {}, clinician ? "Today's consultations" : 'Your consultations today'), h('div', { id: 'today' }, list2));
  // Kept current while the page stays open (who is waiting changes by the minute).
  if (!existing) {
    const timer = window.setInterval(() => {
      if (!document.getElementById('today')) return clearInterval(timer);
      void homeView(me).catch(() => {});
    }, 20_000);
  }
}

function statusText(s: string): string {
  return ({ booked: 'booked', arrived: 'arrived', 'checked-in': 'checked in', fulfilled: 'finished', cancelled: 'cancelled', noshow: 'missed' } as Record<string, string>)[s] ?? s;
}
