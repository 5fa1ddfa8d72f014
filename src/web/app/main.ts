// The browser app: sign-in from the link's fragment, then the clinician or patient view.

  // The token arrives in the URL fragment (never sent to a server or a log) and is kept for this tab only.
  const fromHash = new URLSearchParams(location.hash.slice(1)).get('token');
  if (fromHash) { sessionStorage.setItem('token', fromHash); history.replaceState(null, '', location.pathname); }
  const token = sessionStorage.getItem('token');
  const main = document.getElementById('main')!;
  const who = document.getElementById('who')!;
  const el = (tag: string, text?: string, cls?: string) => { const e = document.createElement(tag); if (text) e.textContent = text; if (cls) e.className = cls; return e; };
  async function api(path: string): Promise<any> {
    const r = await fetch(path, { headers: { authorization: `Bearer ${token}`, accept: 'application/fhir+json' } });
    if (!r.ok) throw new Error(`${r.status} ${(await r.json().catch(() => ({})))?.issue?.[0]?.diagnostics ?? r.statusText}`);
    return r.json();
  }
  async function show() {
    if (!token) return;
    try {
      const me = await api('/api/me');
      who.textContent = `${me.id} (${me.role === 'authorized_medical_staff' ? 'clinician' : me.role})`;
      const day = new Date().toISOString().slice(0, 10);
      const bundle = await api(`/fhir/Appointment?date=${day}&_sort=date&_count=50`);
      main.replaceChildren(el('h2', "Today's consultations"));
      const list = bundle.entry ?? [];
      if (list.length === 0) main.append(el('p', 'No consultations today.', 'muted'));
      for (const { resource: a } of list as Array<{ resource: any }>) {
        const card = el('div', '', 'card');
        card.append(el('strong', new Date(a.start).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })), ' ',
          el('span', (a.serviceType?.[0]?.text ?? 'Consultation') + ` · ${a.status}`));
        main.append(card);
      }
      main.append(el('p', 'Video calls, the waiting room and live vitals arrive with the consultation release of this node.', 'muted'));
    } catch (e) {
      main.replaceChildren(el('p', `Could not sign in: ${(e as Error).message}`, 'err'));
    }
  }
  show();
