// The open bundle: ZIP, index, pages, verification verdict, and the lookups that turn an
// archived URL into a record, a page document or a data: URL. All of it lives in `state`.
import { closest, Index } from './cdxj.js';
import { absolute, rewriteCss, rewriteHtml } from './rewrite.js';
import { ReaderError, dataUrl, utf8 } from './util.js';
import { hashMember, verifyManifests } from './verify.js';
import { charsetOf, DamagedRecord, decodedBody, mimeOf, readRecord } from './warc.js';
import { Zip } from './zip.js';

export const state = {
  bundle: null,       // {name, zip, index, pkg, pages, signer, publisher}
  verdict: 'none',    // verifying | trusted | untrusted | failed (the <html data-state>)
  problems: [],       // why it failed (strings)
  notes: [],          // 'domain', 'no-publisher', 'unchecked-records'
  damaged: [],        // URLs of records that did not match their digest
  expected: null,     // the fingerprint the person typed (64 hex digits), never stored
  fullCheck: 'pending', // pending | running | done
  hashed: 0, toHash: 0,
  current: null,      // the page on show {url, ts}
  search: null,
  lang: 'en',
  onChange: () => {},
  onIdle: null,       // called a moment after a bundle has opened (builds the search index)
};

const MAX_RESOURCE = 48 * 1024 * 1024;
const MAX_PAGES_BYTES = 512 * 1024 * 1024;
const resourceCache = new Map();

export function judge() {
  const b = state.bundle;
  if (!b) return;
  if (state.problems.length || state.damaged.length) state.verdict = 'failed';
  else if (state.fullCheck !== 'done') state.verdict = 'verifying';
  else if (b.signer && b.signer.kind === 'anonymous' && state.expected &&
           state.expected === b.signer.fingerprint.replace(/ /g, '')) state.verdict = 'trusted';
  else state.verdict = 'untrusted';
  document.documentElement.dataset.state = state.verdict;
  state.onChange();
}

function fail(message) {
  if (!state.problems.includes(message)) state.problems.push(message);
  judge();
}

async function readPages(zip, index) {
  const name = [...zip.members.keys()].find((n) => /^pages\/pages\.jsonl$/.test(n)) ||
    [...zip.members.keys()].find((n) => /^pages\/.*\.jsonl$/.test(n));
  const pages = [];
  if (name) {
    const text = utf8.decode(await zip.bytes(name, MAX_PAGES_BYTES));
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      let p;
      try { p = JSON.parse(line); } catch { continue; }
      if (!p || typeof p.url !== 'string') continue;
      pages.push({ url: p.url, ts: p.ts || '', title: typeof p.title === 'string' ? p.title : '',
        text: typeof p.text === 'string' ? p.text : '' });
    }
  }
  if (!pages.length) {
    // No page list (another tool's bundle): the HTML responses of the index are the pages.
    for await (const e of index.all()) {
      if (/html/.test(e.mime || '') && String(e.status || '200').startsWith('2')) {
        pages.push({ url: e.url, ts: e.ts, title: '', text: '' });
      }
      if (pages.length >= 100000) break;
    }
  }
  return pages;
}

// Opens a bundle from a Blob (a picked file or the embedded one) and runs the checks that
// come first; the full WARC hashing is started in the background.
export async function openBundle(blob, name) {
  resourceCache.clear();
  Object.assign(state, { bundle: null, problems: [], notes: [], damaged: [], fullCheck: 'pending',
    hashed: 0, toHash: 0, current: null, search: null });
  state.verdict = 'verifying';
  document.documentElement.dataset.state = 'verifying';
  state.onChange();
  const zip = await new Zip(blob).open();
  let result;
  try {
    result = await verifyManifests(zip);
  } catch (err) {
    if (!(err instanceof ReaderError)) throw err;
    result = { pkg: {}, signer: null, resources: [], publisher: null, problems: [err.message], notes: [] };
  }
  state.problems.push(...result.problems);
  state.notes.push(...result.notes);
  const index = await Index.open(zip);
  // The index and the page list are hashed before anything is shown (they are small next to
  // the WARCs); the WARCs afterwards, in the background.
  const now = result.resources.filter((r) => !r.path.startsWith('archive/'));
  const later = result.resources.filter((r) => r.path.startsWith('archive/'));
  // Hashing and parsing overlap (inflating and WebCrypto run off the page's thread); nothing
  // is shown before both have ended.
  const [hashes, pages] = await Promise.all([
    Promise.all(now.map((r) => hashMember(zip, r.path, null, 64 << 20))),
    readPages(zip, index),
  ]);
  now.forEach((r, i) => {
    if (hashes[i] !== r.hash) {
      state.problems.push(`${r.path}: content does not match its hash (changed or damaged)`);
    }
  });
  zip.keep = null;  // the index and page list are parsed: their bytes can go
  state.bundle = { name, zip, index, pkg: result.pkg, pages, signer: result.signer,
    publisher: result.publisher };
  judge();
  fullCheck(zip, later);
  // The search index is built a moment later, in idle slices, so the first page is not slowed
  // and the first search does not wait (the WARCs are hashed in a Worker meanwhile).
  const opened = state.bundle;
  setTimeout(() => { if (state.bundle === opened) state.onIdle?.(); }, 1000);
  return state.bundle;
}

async function fullCheck(zip, todo) {
  const bundle = state.bundle;
  state.fullCheck = 'running';
  state.toHash = todo.reduce((n, r) => n + r.size, 0);
  try {
    for (const r of todo) {
      const got = await hashMember(zip, r.path, (n) => {
        const before = Math.floor((100 * state.hashed) / state.toHash);
        state.hashed += n;
        if (Math.floor((100 * state.hashed) / state.toHash) !== before) state.onChange();
      });
      if (state.bundle !== bundle) return;  // another bundle was opened meanwhile
      if (got !== r.hash) fail(`${r.path}: content does not match its hash (changed or damaged)`);
    }
  } catch (err) {
    fail(`the full check could not read the file: ${err.message || err}`);
  }
  if (state.bundle !== bundle) return;
  state.fullCheck = 'done';
  judge();
}

// The record to show for `url` near `ts`: revisits resolved to their originals, redirects
// followed inside the archive. Returns {entry, rec, url} or null (not in this archive).
export async function findRecord(url, ts, hops = 0) {
  const { index, zip } = state.bundle;
  const entries = (await index.lookup(url)).filter((e) => !String(e.url).startsWith('urn:'));
  const entry = closest(entries, ts);
  if (!entry) return null;
  if (entry.mime === 'warc/revisit') {
    const target = entry.refersToUrl || entry.url;
    const originals = (await index.lookup(target)).filter((e) => e.mime !== 'warc/revisit');
    const byDate = entry.refersToDate && originals.find((e) => e.ts === entry.refersToDate);
    const orig = byDate || closest(originals.filter((e) => e.digest && e.digest === entry.digest), entry.ts) ||
      closest(originals, entry.ts);
    if (!orig) return null;
    // The revisit itself is checked too; the original's headers go with its payload (they say
    // how those bytes are encoded).
    await checked(zip, entry);
    return finish(orig, await checked(zip, orig), url, ts, hops);
  }
  return finish(entry, await checked(zip, entry), url, ts, hops);
}

async function finish(entry, rec, url, ts, hops) {
  if (rec.status >= 300 && rec.status < 400 && rec.http && rec.http.get('location') && hops < 6) {
    const next = absolute(rec.http.get('location'), url);
    if (next && next !== url) {
      const found = await findRecord(next, ts, hops + 1);
      if (found) return found;
    }
  }
  return { entry, rec, url };
}

async function checked(zip, entry) {
  try {
    return await readRecord(zip, entry);
  } catch (err) {
    if (err instanceof DamagedRecord) {
      if (!state.damaged.includes(entry.url)) state.damaged.push(entry.url);
      judge();
    }
    throw err;
  }
}

export async function snapshotRecord(url, ts) {
  const { index, zip } = state.bundle;
  const entries = await index.lookup('urn:snapshot:' + url);
  const entry = closest(entries, ts);
  return entry ? { entry, rec: await checked(zip, entry), url } : null;
}

// Decodes HTML as the browser would have: HTTP charset, BOM, <meta charset>, else UTF-8.
export function decodeHtml(bytes, contentType) {
  let label = charsetOf(contentType);
  if (!label) {
    if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) label = 'utf-8';
    else if (bytes[0] === 0xff && bytes[1] === 0xfe) label = 'utf-16le';
    else if (bytes[0] === 0xfe && bytes[1] === 0xff) label = 'utf-16be';
    else {
      const head = new TextDecoder('latin1').decode(bytes.subarray(0, 2048));
      const m = /<meta[^>]+charset\s*=\s*["']?\s*([\w-]+)/i.exec(head);
      label = m ? m[1] : 'utf-8';
    }
  }
  try { return new TextDecoder(label).decode(bytes); } catch { return utf8.decode(bytes); }
}

function decodeText(bytes, contentType) {
  let label = charsetOf(contentType) || 'utf-8';
  const m = /^@charset\s+"([^"]+)"/.exec(new TextDecoder('latin1').decode(bytes.subarray(0, 128)));
  if (!charsetOf(contentType) && m) label = m[1];
  try { return new TextDecoder(label).decode(bytes); } catch { return utf8.decode(bytes); }
}

// A data: URL for an archived resource (CSS rewritten first), or null when it is not in the
// archive, damaged, or cannot be decoded here. Cached per URL for the open bundle.
export function resolveResource(url, kind, depth = 0) {
  const key = kind + ' ' + url;
  if (!resourceCache.has(key)) {
    resourceCache.set(key, loadResource(url, kind, depth).catch(() => null));
    if (resourceCache.size > 2000) resourceCache.delete(resourceCache.keys().next().value);
  }
  return resourceCache.get(key);
}

async function loadResource(url, kind, depth) {
  const ts = state.current && state.current.ts;
  const found = await findRecord(url, ts);
  if (!found || found.rec.status >= 400) return null;
  const body = await decodedBody(found.rec);
  if (body.length > MAX_RESOURCE) return null;
  const mime = mimeOf(found.rec.contentType) || 'application/octet-stream';
  if (kind === 'style' || mime === 'text/css') {
    if (depth > 4) return null;
    const css = await rewriteCss(decodeText(body, found.rec.contentType), found.url,
      (u, k) => resolveResource(u, k, depth + 1));
    return dataUrl(new TextEncoder().encode(css), 'text/css;charset=utf-8');
  }
  return dataUrl(body, mime);
}

// The srcdoc for the archived page `url` (its snapshot when it has one).
export async function pageDocument(url, ts, depth = 0) {
  const snap = await snapshotRecord(url, ts).catch((err) => {
    if (err instanceof DamagedRecord) throw err;
    return null;
  });
  const found = snap || await findRecord(url, ts);
  if (!found) return { missing: true, url };
  const mime = mimeOf(found.rec.contentType);
  const body = await decodedBody(found.rec);
  let html;
  if (mime.includes('html') || mime === '' || mime.includes('xml')) html = decodeHtml(body, found.rec.contentType);
  else if (mime.startsWith('image/')) html = `<img src="${await dataUrl(body, mime)}" style="max-width:100%">`;
  else if (mime.startsWith('text/') || mime.includes('json')) {
    const pre = document.createElement('pre');
    pre.textContent = decodeText(body, found.rec.contentType);
    html = pre.outerHTML;
  } else return { unsupported: mime, url: found.url, entry: found.entry };
  const ctx = {
    resolve: (u, k) => resolveResource(u, k),
    frame: async (u, d) => {
      try {
        const sub = await pageDocument(u, ts, d);
        return sub.srcdoc || '';
      } catch { return ''; }
    },
  };
  const srcdoc = await rewriteHtml(html, found.url, ctx, depth);
  return { srcdoc, url: found.url, entry: found.entry, snapshot: Boolean(snap),
    checked: found.rec.checked, status: found.rec.status };
}

// Whether `url` is a page (HTML) of this bundle, for links.
export async function inArchive(url) {
  try {
    const entries = await state.bundle.index.lookup(url);
    return entries.length > 0;
  } catch { return false; }
}
