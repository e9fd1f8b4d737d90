// The reader's screen: opening, the verdict and fingerprint comparison, the page list and
// search, and the sandboxed frame that shows a page. DOM only; all data is in `state`.
import { inArchive, judge, openBundle, pageDocument, state } from './archive.js';
import { canScan, scanCard } from './card.js';
import { language, setLanguage, t } from './i18n.js';
import { SearchIndex } from './search.js';
import { ReaderError } from './util.js';
import { normalizeFingerprint } from './verify.js';

const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') node.className = v; else if (k.startsWith('data-')) node.setAttribute(k, v);
    else node[k] = v;
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

function fmtDate(ts) {
  if (!ts) return '';
  const iso = /^\d{14}/.test(ts)
    ? `${ts.slice(0, 4)}-${ts.slice(4, 6)}-${ts.slice(6, 8)}T${ts.slice(8, 10)}:${ts.slice(10, 12)}:${ts.slice(12, 14)}Z`
    : ts;
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(ts) : d.toISOString().slice(0, 16).replace('T', ' ') + ' UTC';
}

// Static texts (data-t attributes) in the current language.
export function translate() {
  for (const node of document.querySelectorAll('[data-t]')) node.textContent = t(node.dataset.t);
  for (const node of document.querySelectorAll('[data-t-placeholder]')) {
    node.placeholder = t(node.dataset.tPlaceholder);
  }
  $('lang').textContent = t('lang');
  renderVerdict();
  renderPages();
}

export function renderVerdict() {
  const b = state.bundle;
  const box = $('verdict');
  box.hidden = !b && state.verdict === 'none';
  if (box.hidden) return;
  const pct = state.toHash ? Math.floor((100 * state.hashed) / state.toHash) : 0;
  const domain = b && b.signer && b.signer.kind === 'domain';
  $('verdict-text').textContent = state.verdict === 'verifying' ? t('verifying', pct)
    : state.verdict === 'none' ? '' : domain && state.verdict === 'untrusted' ? t('domainUntrusted')
      : t(state.verdict);
  // The same verdict, short, beside every page shown (on a phone the box is scrolled away).
  $('badge').textContent = state.verdict === 'none' ? ''
    : t(domain && state.verdict === 'untrusted' ? 'badge_domain' : 'badge_' + state.verdict);
  const signer = b && b.signer;
  $('publisher').textContent = (b && b.publisher && b.publisher.publisher) || t('anonymous');
  $('fingerprint').textContent = signer && signer.fingerprint ? signer.fingerprint
    : signer && signer.kind === 'domain' ? t('domain', signer.domain)
      : state.problems.length ? t('noValidSignature') : t('unsigned');
  $('signed-at').textContent = signer && signer.created ? fmtDate(signer.created) : '';
  $('compare').hidden = !(signer && signer.kind === 'anonymous');
  $('scan').hidden = !canScan();
  renderMatch();
  const list = $('problems');
  list.replaceChildren(...state.problems.map((p) => el('li', {}, p)),
    ...state.damaged.map((u) => el('li', {}, t('damaged', u))));
  $('problems-box').hidden = !list.children.length;
}

function renderMatch() {
  const b = state.bundle;
  const out = $('match');
  const typed = $('fp-input').value;
  out.className = '';
  if (!typed.trim() || !b || !b.signer || !b.signer.fingerprint) { out.textContent = ''; return; }
  const fp = normalizeFingerprint(typed);
  if (!fp) { out.textContent = t('incomplete'); return; }
  if (fp === b.signer.fingerprint.replace(/ /g, '')) {
    out.textContent = state.verdict === 'trusted' ? t('match')
      : state.verdict === 'failed' ? t('failed') : t('matchPending');
    out.className = state.verdict === 'failed' ? 'bad' : 'good';
  } else {
    out.textContent = t('noMatch');
    out.className = 'bad';
  }
}

function onFingerprintInput() {
  // Compared anew each time; never written to storage (every file:// page shares it).
  state.expected = normalizeFingerprint($('fp-input').value);
  judge();
}

let pageLimit = 200;

export function renderPages() {
  const b = state.bundle;
  $('reading').hidden = !b;
  if (!b) return;
  const query = $('search').value.trim();
  let items;
  if (query) {
    if (!state.search) state.search = new SearchIndex(b.pages);
    if (!state.search.built) {
      $('page-count').textContent = t('indexing', 0);
      const search = state.search;
      search.build((done, total) => {
        if (state.search === search && !search.built) {
          $('page-count').textContent = t('indexing', Math.floor((100 * done) / total));
        }
      }).then(() => { if (state.search === search) renderPages(); });
      return;
    }
    const { results, more } = state.search.search(query);
    $('page-count').textContent = results.length
      ? t('searchCount', results.length + (more ? '+' : '')) : t('searchNone');
    items = results;
  } else {
    $('page-count').textContent = t('pageCount', b.pages.length);
    items = b.pages.slice(0, pageLimit).map((page) => ({ page, snippet: '' }));
  }
  const list = $('pages');
  list.dataset.search = query;  // what the list shows now (for tests and scripts)
  list.replaceChildren(...items.map(({ page, snippet }) => {
    const a = el('a', { href: '#', className: 'page', 'data-url': page.url, 'data-ts': page.ts || '' },
      el('span', { className: 'page-title' }, page.title || page.url),
      el('span', { className: 'page-meta' }, `${page.url} · ${fmtDate(page.ts)}`));
    if (snippet) a.append(el('span', { className: 'snippet' }, snippet));
    return el('li', {}, a);
  }));
  if (!query && b.pages.length > pageLimit) {
    const more = el('button', { type: 'button', className: 'more' }, `+ ${b.pages.length - pageLimit}`);
    more.onclick = () => { pageLimit += 1000; renderPages(); };
    list.append(el('li', {}, more));
  }
}

function tsOf(page) {
  return String(page || '').replace(/\D/g, '').slice(0, 14);
}

const history = [];

export async function showPage(url, ts, push = true) {
  const frame = $('view');
  const note = $('page-note');
  $('viewer').hidden = false;
  document.body.classList.add('viewing');
  if (window.matchMedia('(max-width: 899px)').matches) $('viewer').scrollIntoView({ block: 'start' });
  if (push && state.current) history.push(state.current);
  state.current = { url, ts };
  $('page-url').textContent = url;
  note.className = 'note';
  note.textContent = '…';
  let doc;
  try {
    doc = await pageDocument(url, ts);
  } catch (err) {
    frame.srcdoc = '';
    note.className = 'note bad';
    note.textContent = err.name === 'DamagedRecord' ? t('pageDamaged')
      : t('cannotDecode', err.message || String(err));
    frame.dataset.page = err.name === 'DamagedRecord' ? 'damaged' : 'undecodable';
    return;
  }
  if (doc.missing || doc.unsupported) {
    frame.srcdoc = '';
    note.className = 'note bad';
    note.textContent = doc.missing ? t('notInArchive', url) : t('unsupportedType', doc.unsupported);
    frame.dataset.page = 'missing';
    return;
  }
  const bits = [t('captured', fmtDate(doc.entry.ts))];
  bits.push(doc.checked ? t('checkedRecord') : t('uncheckedRecord'));
  if (doc.snapshot) bits.push(t('snapshot'));
  bits.push(t('scriptsOff'));
  note.textContent = bits.join(' · ');
  frame.dataset.page = 'loading';
  frame.onload = () => {
    const fdoc = frame.contentDocument;
    if (fdoc) fdoc.addEventListener('click', onFrameClick, true);
    frame.dataset.page = 'shown';
    frame.dataset.url = doc.url;
  };
  frame.srcdoc = doc.srcdoc;
}

async function onFrameClick(event) {
  const a = event.target.closest && event.target.closest('a[href], area[href]');
  if (!a) return;
  const href = a.getAttribute('href') || '';
  if (href.startsWith('#')) return;  // in-page anchor: the frame scrolls itself
  event.preventDefault();
  const url = a.getAttribute('data-mk-href') || href;
  if (await inArchive(url.split('#')[0])) showPage(url.split('#')[0], state.current && state.current.ts);
  else {
    const note = $('page-note');
    note.className = 'note bad';
    note.textContent = t('notInArchive', url);
  }
}

async function openFile(file) {
  const status = $('open-status');
  status.textContent = t('opening', file.name || 'bundle');
  status.className = '';
  try {
    await openBundle(file, file.name || 'bundle.wacz');
    status.textContent = '';
    pageLimit = 200;
    $('search').value = '';
    history.length = 0;
    $('viewer').hidden = true;
    document.body.classList.remove('viewing');
    renderPages();
    renderVerdict();
  } catch (err) {
    if (!(err instanceof ReaderError)) console.error(err);
    status.textContent = t('notWacz', err.message || String(err));
    status.className = 'bad';
    state.problems = [err.message || String(err)];
    state.verdict = 'failed';
    document.documentElement.dataset.state = 'failed';
    renderVerdict();
  }
}

let scanning = null;

function toggleScan() {
  const video = $('scan-video');
  if (scanning) { scanning.stop(); return; }
  video.hidden = false;
  $('scan').textContent = t('scanStop');
  scanning = scanCard(video, () => { $('match').textContent = t('scanNotCard'); });
  scanning.done.then((card) => {
    if (card) {
      $('fp-input').value = card.fingerprint;
      onFingerprintInput();
      $('match').textContent += ' ' + t('scanned', card.name);
    }
  }).catch(() => { $('match').textContent = t('scanNoCamera'); }).finally(() => {
    scanning = null;
    video.hidden = true;
    $('scan').textContent = t('scan');
  });
}

export function setup() {
  state.onChange = () => { renderVerdict(); };
  // A moment after a bundle opens, the search index is built while nobody waits for it.
  state.onIdle = () => {
    if (!state.bundle) return;
    if (!state.search) state.search = new SearchIndex(state.bundle.pages);
    state.search.build();
  };
  $('file').addEventListener('change', (e) => { if (e.target.files[0]) openFile(e.target.files[0]); });
  const zone = document.body;
  zone.addEventListener('dragover', (e) => { e.preventDefault(); zone.classList.add('drag'); });
  zone.addEventListener('dragleave', () => zone.classList.remove('drag'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('drag');
    const file = e.dataTransfer && e.dataTransfer.files[0];
    if (file) openFile(file);
  });
  $('fp-input').addEventListener('input', onFingerprintInput);
  $('scan').addEventListener('click', toggleScan);
  $('search').addEventListener('input', () => renderPages());
  $('pages').addEventListener('click', (e) => {
    const a = e.target.closest('a.page');
    if (!a) return;
    e.preventDefault();
    history.length = 0;
    showPage(a.dataset.url, tsOf(a.dataset.ts));
  });
  $('back').addEventListener('click', () => {
    const prev = history.pop();
    if (prev) showPage(prev.url, prev.ts, false);
    else { $('viewer').hidden = true; document.body.classList.remove('viewing'); state.current = null; }
  });
  $('to-list').addEventListener('click', () => {
    $('viewer').hidden = true;
    document.body.classList.remove('viewing');
  });
  $('lang').addEventListener('click', () => {
    setLanguage(language() === 'zh' ? 'en' : 'zh');
    translate();
  });
  translate();
}

export { openFile };
