// Small DOM helpers: element builder, the status line read by screen readers.

type Child = Node | string | null | undefined | false;
type Attrs = Record<string, string | number | boolean | null | undefined | EventListener>;

/** `h('button', {type: 'button', onclick: ...}, 'Admit')`: attributes, `on*` listeners, children. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') e.addEventListener(k.slice(2), v);
    else if (k === 'class') e.className = String(v);
    else if (k in e && typeof v !== 'string') (e as any)[k] = v;
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) e.append(c);
  return e;
}

export const main = (): HTMLElement => document.getElementById('main')!;

/** Replaces the page content and moves focus to its heading (so keyboard and screen reader users land on it). */
export function show(...children: Child[]): void {
  const m = main();
  m.replaceChildren(...(children.filter(Boolean) as Array<Node | string>));
  const heading = m.querySelector<HTMLElement>('h2');
  if (heading) {
    heading.tabIndex = -1;
    heading.focus({ preventScroll: true });
  }
}

/** Says something in the polite live region (status changes: waiting, admitted, reconnecting). */
export function announce(text: string): void {
  const s = document.getElementById('status');
  if (s) s.textContent = text;
}

export function errorBox(title: string, detail: string, ...actions: Child[]): HTMLElement {
  return h('section', { class: 'card notice', role: 'alert', 'data-testid': 'refusal' }, h('h2', {}, title), h('p', {}, detail), ...actions);
}
