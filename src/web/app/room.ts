// The consultation room: waiting room (clinician: who waits, Admit; patient: a
// waiting message), then the call (videos, toggles, chat, documents, vitals, end).
import { api, displayName, timeOf, type Me } from './api.ts';
import { Call, type ChatMessage, type LobbyEntry, type Phase, type SharedDocument } from './call.ts';
import { refusal } from './reasons.ts';
import { announce, errorBox, h, show } from './ui.ts';
import { VitalsPanel } from './vitals.ts';

export interface RoomOptions {
  appointmentId: string;
  me: Me;
  clinician: boolean;
  /** Who the other person is (a display name) and when, for the heading. */
  title: string;
  patientRef: string | undefined;
  /** The stream from the device check, if the patient made one. */
  stream: MediaStream | null;
  signalingPath: string;
}

declare global {
  interface Window {
    /** For tests and support: the running call (its RTCPeerConnection, phase, last stats). */
    __telemed?: { call: Call; readonly pc: RTCPeerConnection | undefined; readonly phase: Phase; readonly localStream: MediaStream | null; phases: Phase[] };
  }
}

export function roomView(o: RoomOptions): Call {
  // The clinician watches the patient's live vitals (src/vitals/PROTOCOL.md: a clinician admitted to the call subscribes).
  const vitals = o.clinician ? new VitalsPanel(o.appointmentId) : null;
  const remoteVideo = h('video', { class: 'remote-video', autoplay: true, playsInline: true, 'data-testid': 'remote-video', 'aria-label': 'The other person’s video' });
  // A page without a recent click (a reload) may not play sound by itself: then one press starts it.
  const startMedia = h('button', { type: 'button', class: 'primary start-media', hidden: true }, 'Start video and sound');
  const playRemote = () =>
    void remoteVideo.play().then(
      () => (startMedia.hidden = true),
      (err: DOMException) => {
        if (err.name === 'NotAllowedError') startMedia.hidden = false;
      },
    );
  startMedia.addEventListener('click', playRemote);
  // The other person's toggles (PROTOCOL.md `media`): "camera off" instead of a black picture nobody can explain.
  const remoteMedia = h('p', { class: 'remote-media', hidden: true, 'data-testid': 'remote-media', 'aria-live': 'polite' });
  const showRemoteMedia = (audio: boolean, video: boolean) => {
    const who = o.clinician ? 'The patient' : 'The clinician';
    remoteMedia.textContent = !video && !audio ? `${who} turned the camera off and muted the microphone.` : !video ? `${who} turned the camera off.` : !audio ? `${who} muted the microphone.` : '';
    remoteMedia.hidden = audio && video;
    remoteMedia.classList.toggle('camera-off', !video);
  };
  const remoteNote = h('p', { class: 'placeholder' }, o.clinician ? 'Nobody is in the call yet. Admit the patient from the waiting room.' : 'Connecting…');
  const localVideo = h('video', { class: 'local-video', autoplay: true, muted: true, playsInline: true, 'aria-label': 'Your own video' });
  const localTile = h('div', { class: 'local' }, localVideo);
  const micBtn = h('button', { type: 'button', 'aria-pressed': 'false', disabled: true }, 'Mute microphone');
  const camBtn = h('button', { type: 'button', 'aria-pressed': 'false', disabled: true }, 'Turn camera off');
  const endBtn = h('button', { type: 'button', class: 'danger' }, o.clinician ? 'End consultation' : 'Leave');
  const lobbyList = h('ul', { class: 'plain lobby', 'data-testid': 'lobby' });
  const lobbyEmpty = h('p', { class: 'muted' }, 'Nobody is waiting.');
  const chatLog = h('ol', { class: 'plain chat-log', 'aria-live': 'polite', 'aria-label': 'Chat history', 'data-testid': 'chat-log' });
  const chatInput = h('input', { id: 'chat-input', type: 'text', maxLength: 4000, autocomplete: 'off', required: true });
  const chatForm = h('form', { class: 'inline-form' }, h('label', { for: 'chat-input', class: 'sr-only' }, 'Message'), chatInput, h('button', { type: 'submit' }, 'Send'));
  const docList = h('ul', { class: 'plain docs', 'data-testid': 'documents' });
  const fileInput = h('input', { id: 'doc-file', type: 'file' });
  const docForm = h('form', { class: 'inline-form' }, h('label', { for: 'doc-file' }, 'File to share'), fileInput, h('button', { type: 'submit' }, 'Share in the call'));
  const docStatus = h('p', { class: 'muted small', 'aria-live': 'polite' });
  const waitingCard = h('section', { class: 'card waiting', 'data-testid': 'waiting' }, h('h3', {}, 'You are in the waiting room'), h('p', {}, 'Your clinician has been told you are here and will let you in shortly. Keep this page open.'));
  const notice = h('p', { class: 'notice-line' });
  const quality = h('span', { class: 'quality', 'data-testid': 'quality' });
  const heading = h('h2', {}, o.title);

  const stage = h(
    'div',
    { class: 'stage' },
    vitals?.banner,
    h('div', { class: 'videos' }, h('div', { class: 'remote' }, remoteVideo, remoteNote, remoteMedia, startMedia), localTile),
    h('div', { class: 'controls', role: 'group', 'aria-label': 'Call controls' }, micBtn, camBtn, quality, endBtn),
    notice,
  );
  const lobbyHeading = h('h3', { id: 'lobby-h', tabindex: '-1' }, 'Waiting room');
  const lobby = o.clinician ? h('section', { class: 'card', 'aria-labelledby': 'lobby-h' }, lobbyHeading, lobbyEmpty, lobbyList) : null;
  const vitalsCard = h('section', { class: 'card vitals', id: 'vitals-panel', 'aria-labelledby': 'vitals-h', 'data-testid': 'vitals' }, h('h3', { id: 'vitals-h' }, 'Vitals'),
    vitals ? vitals.element : h('p', { class: 'muted' }, 'Readings from your devices are shared live with your clinician during the call.'));
  const inCall = h(
    'div',
    { class: 'in-call-panels', hidden: true },
    // The clinician's live vitals come first (alerts must be seen); the patient's note about them last.
    o.clinician ? vitalsCard : null,
    h('section', { class: 'card', 'aria-labelledby': 'chat-h' }, h('h3', { id: 'chat-h' }, 'Chat'), chatLog, chatForm),
    h('section', { class: 'card', 'aria-labelledby': 'docs-h' }, h('h3', { id: 'docs-h' }, 'Documents'), docList, docForm, docStatus),
    o.clinician ? null : vitalsCard,
  );
  const side = h('aside', { class: 'side' }, lobby, o.clinician ? null : waitingCard, inCall);

  let remoteSeat: string | undefined;
  const call = new Call(o.appointmentId, o.me, async () => o.stream ?? (await getMedia()), {
    phase: (p, detail) => onPhase(p, detail),
    lobby: (w) => void renderLobby(w),
    peers: (peers) => {
      const other = peers.find((p) => p.seat !== call.seat);
      if (other && !other.connected) remoteNote.textContent = 'The other person lost their connection…';
    },
    remote: (seat, stream) => {
      // One remote tile: a seat that goes away clears it only if it is the one shown.
      if (!stream && remoteSeat !== seat) return;
      remoteSeat = stream ? seat : undefined;
      if (remoteVideo.srcObject !== stream) {
        remoteVideo.srcObject = stream;
        if (stream) playRemote();
      }
      remoteNote.hidden = stream !== null;
      if (!stream) showRemoteMedia(true, true);
      if (!stream) remoteNote.textContent = o.clinician ? 'The patient is not connected.' : 'The clinician is not connected.';
    },
    local: (stream) => {
      localVideo.srcObject = stream;
      micBtn.disabled = camBtn.disabled = !stream;
    },
    chat: (m) => void addChat(m),
    media: (seat, audio, video) => {
      if (remoteSeat === undefined || seat === remoteSeat) showRemoteMedia(audio, video);
    },
    document: (d) => void addDocument(d),
    stats: (st) => {
      const poor = st.videoStalled === true || (st.packetLoss ?? 0) > 0.05 || (st.rtt ?? 0) > 0.4;
      const fair = (st.packetLoss ?? 0) > 0.02 || (st.rtt ?? 0) > 0.2;
      const word = poor ? 'poor' : fair ? 'fair' : 'good';
      quality.textContent = st.videoStalled ? 'Connection: poor · no video' : `Connection: ${word}${st.rtt !== undefined ? ` · ${Math.round(st.rtt * 1000)} ms` : ''}`;
      quality.className = `quality ${word}`;
    },
    notice: (text) => {
      if (!text && !notice.textContent) return;
      notice.textContent = text;
      announce(text || 'Video connected.');
    },
  }, o.stream);
  localVideo.srcObject = o.stream;
  micBtn.disabled = camBtn.disabled = !o.stream;
  window.__telemed = {
    call,
    get pc() { return call.pc; },
    get phase() { return call.phase; },
    get localStream() { return call.local; },
    phases: [],
  };

  function onPhase(p: Phase, detail?: string) {
    const status: Record<Phase, string> = {
      connecting: 'Connecting to the clinic…',
      waiting: 'You are in the waiting room.',
      'in-call': detail === 'resumed' ? 'Reconnected: you are back in the call.' : 'You are in the call.',
      reconnecting: 'Connection lost: reconnecting…',
      refused: '',
      ended: 'The consultation has ended.',
      left: 'You left the consultation.',
    };
    announce(status[p]);
    document.body.dataset.phase = p;
    window.__telemed?.phases.push(p);
    if (p === 'in-call') vitals?.start();
    else if (p === 'refused' || p === 'ended' || p === 'left') vitals?.stop();
    if (p === 'in-call') {
      waitingCard.hidden = true;
      inCall.hidden = false;
      void loadHistory();
      notice.textContent = '';
      if (location.pathname !== `/call/${o.appointmentId}`) history.replaceState(null, '', `/call/${encodeURIComponent(o.appointmentId)}`);
      if (!call.pc) remoteNote.textContent = o.clinician ? 'Nobody is in the call yet. Admit the patient from the waiting room.' : 'Connecting to your clinician…';
    } else if (p === 'waiting') {
      waitingCard.hidden = false;
      inCall.hidden = true;
      remoteNote.textContent = 'Waiting for the clinician to let you in.';
    } else if (p === 'reconnecting') {
      notice.textContent = status[p];
    } else if (p === 'refused') {
      const r = refusal(detail);
      show(errorBox(r.title, r.detail, h('p', {}, h('a', { href: '/' }, 'Back to the start page'))));
      announce(r.title);
    } else if (p === 'ended' && detail === 'closed') {
      const msg = o.clinician ? 'You closed the waiting room before the call started. The appointment stays booked.' : 'The clinician closed the waiting room before the call started. The appointment stays booked: you can join again later.';
      show(h('section', { class: 'card' }, h('h2', {}, 'The waiting room was closed'), h('p', {}, msg), h('p', {}, h('a', { href: `/${o.clinician ? 'call' : 'join'}/${encodeURIComponent(o.appointmentId)}` }, o.clinician ? 'Open the room again' : 'Join again')), h('p', {}, h('a', { href: '/' }, 'Back to the start page'))));
      announce('The waiting room was closed.');
    } else if (p === 'ended' || p === 'left') {
      const again = p === 'left' ? h('p', {}, h('a', { href: location.pathname.replace('/call/', o.clinician ? '/call/' : '/join/') }, 'Join again')) : null;
      show(h('section', { class: 'card' }, h('h2', {}, status[p]), h('p', {}, p === 'ended' ? 'Thank you. You can close this page.' : 'Your place in the call was freed.'), again, h('p', {}, h('a', { href: '/' }, 'Back to the start page'))));
    }
  }

  // The lobby's "waiting since" stays current between lobby frames.
  let lastLobby: { at: number; waiting: LobbyEntry[] } | undefined;
  const lobbyTicker = window.setInterval(() => {
    if (!document.contains(lobbyList)) return clearInterval(lobbyTicker);
    if (lastLobby?.waiting.length) {
      const dt = Math.round((Date.now() - lastLobby.at) / 1000);
      void renderLobby(lastLobby.waiting.map((w) => ({ ...w, waitingSeconds: w.waitingSeconds + dt })), false);
    }
  }, 30_000);

  async function renderLobby(waiting: LobbyEntry[], fresh = true) {
    if (fresh) lastLobby = { at: Date.now(), waiting };
    const rows = await Promise.all(
      waiting.map(async (w) => {
        const name = await displayName(w.user);
        const since = new Date(Date.now() - w.waitingSeconds * 1000);
        const mins = Math.floor(w.waitingSeconds / 60);
        return h(
          'li',
          { class: 'lobby-row' },
          h('span', {}, h('strong', {}, name), h('br'), h('span', { class: 'muted small' }, `waiting since ${timeOf(since.toISOString())} (${mins < 1 ? 'under a minute' : `${mins} min`})${w.connected ? '' : ' · connection lost'}`)),
          h('button', { type: 'button', class: 'primary', 'data-testid': 'admit', onclick: () => call.admit(w.seat), 'aria-label': `Admit ${name}` }, 'Admit'),
        );
      }),
    );
    const hadFocus = lobbyList.contains(document.activeElement);
    lobbyList.replaceChildren(...rows);
    // The row whose Admit was pressed is gone: keep keyboard users in the waiting room, not at the top of the page.
    if (hadFocus) (lobbyList.querySelector<HTMLElement>('button') ?? lobbyHeading).focus();
    lobbyEmpty.hidden = rows.length > 0;
    if (rows.length && fresh) announce(`${rows.length} waiting in the waiting room.`);
    // Seen from another tab too.
    document.title = rows.length ? `(${rows.length} waiting) telemed-edge` : 'telemed-edge';
  }

  /** The call's Encounter id: from `admitted`, or (for the clinician who opened the room before the call started) looked up by appointment. */
  async function encounterId(): Promise<string | undefined> {
    if (!call.encounter) {
      const b = await api<any>(`/fhir/Encounter?appointment=${encodeURIComponent(`Appointment/${o.appointmentId}`)}&status=in-progress&_count=1`).catch(() => undefined);
      call.encounter ??= b?.entry?.[0]?.resource?.id;
    }
    return call.encounter;
  }

  // After a reload or a resume, the chat and documents so far come back from the record (the Encounter's Communications and DocumentReferences).
  const shownChat = new Set<string>();
  const shownDocs = new Set<string>();
  let historyLoaded = false;
  async function loadHistory() {
    if (historyLoaded || !call.encounter) return;
    historyLoaded = true;
    const enc = encodeURIComponent(`Encounter/${call.encounter}`);
    void api<any>(`/fhir/DocumentReference?encounter=${enc}&_sort=date&_count=100`)
      .then(async (b) => {
        for (const { resource: d } of (b.entry ?? []) as Array<{ resource: any }>) {
          const author = d.author?.[0]?.reference as string | undefined;
          const att = d.content?.[0]?.attachment ?? {};
          await addDocument({ from: '', id: d.id, title: att.title ?? d.description, contentType: att.contentType, mine: author === o.me.id }, author);
        }
      })
      .catch(() => {});
    try {
      const b = await api<any>(`/fhir/Communication?encounter=${enc}&_sort=sent&_count=200`);
      for (const { resource: c } of (b.entry ?? []) as Array<{ resource: any }>) {
        const text = c.payload?.[0]?.contentString;
        const user = c.sender?.reference;
        if (typeof text === 'string' && typeof user === 'string') {
          await addChat({ from: '', user, id: c.id, text, sent: c.sent, mine: user === o.me.id });
        }
      }
    } catch {
      /* the live chat still works; the history is a convenience */
    }
  }

  async function addChat(m: ChatMessage) {
    if (shownChat.has(m.id)) return;
    shownChat.add(m.id);
    const who = m.mine ? 'You' : await displayName(m.user);
    chatLog.append(h('li', { class: m.mine ? 'mine' : 'theirs' }, h('span', { class: 'meta' }, `${who} · ${timeOf(m.sent)}`), h('span', { class: 'text' }, m.text)));
    chatLog.scrollTop = chatLog.scrollHeight;
  }

  async function addDocument(d: SharedDocument, author?: string) {
    if (shownDocs.has(d.id)) return;
    shownDocs.add(d.id);
    const who = d.mine ? 'you' : await displayName(author ?? call.peers.get(d.from)?.user ?? 'Participant/x');
    const title = d.title || 'Document';
    const link = h('a', { href: `/fhir/DocumentReference/${encodeURIComponent(d.id)}`, onclick: (e: Event) => { e.preventDefault(); void openDocument(d.id, title); } }, title);
    docList.append(h('li', {}, link, h('span', { class: 'muted small' }, ` shared by ${who}`)));
  }

  chatForm.addEventListener('submit', (e) => {
    e.preventDefault();
    const text = chatInput.value.trim();
    if (!text) return;
    if (call.sendChat(text)) chatInput.value = '';
    else announce('Not connected: the message was not sent.');
  });

  docForm.addEventListener('submit', (e) => {
    e.preventDefault();
    const file = fileInput.files?.[0];
    if (!file) return void (docStatus.textContent = 'Choose a file first.');
    void shareFile(file);
  });

  async function shareFile(file: File) {
    if (!o.patientRef) return void (docStatus.textContent = 'This consultation has no patient to file the document under.');
    if (file.size > 3 * 1024 * 1024) return void (docStatus.textContent = 'That file is too large to share here (the limit is 3 MB).');
    docStatus.textContent = `Uploading ${file.name}…`;
    try {
      const data = await base64Of(file);
      const encounter = await encounterId();
      const doc = await api<any>('/fhir/DocumentReference', {
        method: 'POST',
        body: {
          resourceType: 'DocumentReference',
          status: 'current',
          subject: { reference: o.patientRef },
          date: new Date().toISOString(),
          author: [{ reference: o.me.id }],
          description: file.name,
          content: [{ attachment: { contentType: file.type || 'application/octet-stream', title: file.name, size: file.size, data, creation: new Date().toISOString() } }],
          ...(encounter ? { context: { encounter: [{ reference: `Encounter/${encounter}` }] } } : {}),
        },
      });
      call.shareDocument(doc.id);
      docStatus.textContent = `${file.name} shared.`;
      fileInput.value = '';
    } catch (err) {
      docStatus.textContent = `Could not share ${file.name}: ${(err as Error).message}`;
    }
  }

  micBtn.addEventListener('click', () => {
    const muted = micBtn.getAttribute('aria-pressed') !== 'true';
    call.setMicrophone(!muted);
    micBtn.setAttribute('aria-pressed', String(muted));
    micBtn.textContent = muted ? 'Unmute microphone' : 'Mute microphone';
    announce(muted ? 'Microphone muted.' : 'Microphone on.');
  });
  camBtn.addEventListener('click', () => {
    const off = camBtn.getAttribute('aria-pressed') !== 'true';
    call.setCamera(!off);
    localTile.classList.toggle('off', off);
    camBtn.setAttribute('aria-pressed', String(off));
    camBtn.textContent = off ? 'Turn camera on' : 'Turn camera off';
    announce(off ? 'Camera off.' : 'Camera on.');
  });
  // Ending finishes the Encounter for everyone: the clinician confirms with a second press.
  const cancelEnd = h('button', { type: 'button', hidden: true }, 'Cancel');
  endBtn.after(cancelEnd);
  let confirmTimer: number | undefined;
  const disarm = () => {
    clearTimeout(confirmTimer);
    endBtn.textContent = 'End consultation';
    endBtn.dataset.armed = '';
    cancelEnd.hidden = true;
  };
  cancelEnd.addEventListener('click', () => {
    disarm();
    endBtn.focus();
  });
  endBtn.addEventListener('click', () => {
    if (!o.clinician) return call.leave();
    if (endBtn.dataset.armed !== 'yes') {
      endBtn.dataset.armed = 'yes';
      endBtn.textContent = 'Confirm: end for everyone';
      cancelEnd.hidden = false;
      announce('Press again to end the consultation for everyone, or Cancel.');
      confirmTimer = window.setTimeout(disarm, 8000);
      return;
    }
    disarm();
    call.end();
  });

  show(h('section', { class: 'room' }, heading, h('div', { class: 'layout' }, stage, side)));
  call.start(o.signalingPath);
  return call;
}

/** Camera and microphone for the call; falls back to the microphone alone, then to receive-only. */
async function getMedia(): Promise<MediaStream | null> {
  if (!navigator.mediaDevices?.getUserMedia) return null; // not a secure context: receive only
  try {
    return await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
  } catch {
    return navigator.mediaDevices.getUserMedia({ audio: true }).catch(() => null);
  }
}

function base64Of(file: Blob): Promise<string> {
  return new Promise((resolve, reject) => {
    const r = new FileReader();
    r.onload = () => resolve(String(r.result).replace(/^data:[^,]*,/, ''));
    r.onerror = () => reject(r.error ?? new Error('the file could not be read'));
    r.readAsDataURL(file);
  });
}

/** Reads a shared DocumentReference over FHIR and hands its attachment to the browser as a download. */
async function openDocument(id: string, title: string): Promise<void> {
  try {
    const doc = await api<any>(`/fhir/DocumentReference/${encodeURIComponent(id)}`);
    const att = doc.content?.[0]?.attachment ?? {};
    if (!att.data) throw new Error('the document has no content on this node');
    const bytes = Uint8Array.from(atob(att.data), (c) => c.charCodeAt(0));
    const url = URL.createObjectURL(new Blob([bytes], { type: att.contentType ?? 'application/octet-stream' }));
    const a = h('a', { href: url, download: att.title ?? title });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  } catch (err) {
    announce(`Could not open ${title}: ${(err as Error).message}`);
  }
}
