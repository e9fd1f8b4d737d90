// Rewrites archived HTML and CSS so that everything they load comes from the bundle as data:
// URLs (the only kind a sandboxed srcdoc frame on file:// can load), scripts are dropped, and
// links carry their absolute archived URL for the reader to follow. The document is parsed with
// DOMParser, which is inert: nothing in it runs or loads while it is being rewritten.

// The frame's own policy (a srcdoc frame also inherits the reader's): nothing from the network.
export const FRAME_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline' data:; " +
  "font-src data:; media-src data:; frame-src data: about:; form-action 'none'; base-uri 'none'";

const STR_DQ = String.raw`"(?:[^"\\\n]|\\.|\\\n)*"`;
const STR_SQ = String.raw`'(?:[^'\\\n]|\\.|\\\n)*'`;
const CSS_TOKEN = new RegExp(
  String.raw`(?<comment>/\*[\s\S]*?(?:\*/|$))` +
  String.raw`|(?<url>(?<![\w-])url\(\s*(?<uval>${STR_DQ}|${STR_SQ}|(?:[^)\s\\'"]|\\.)*)\s*\))` +
  String.raw`|(?<import>@import\s*(?<ival>${STR_DQ}|${STR_SQ}))` +
  `|(?<string>${STR_DQ}|${STR_SQ})`, 'gisd');

function cssUnescape(text) {
  return text.replace(/\\(?:([0-9a-fA-F]{1,6})\s?|(\n)|(.))/gs, (_, h, nl, ch) => {
    if (h) { const c = parseInt(h, 16); return c > 0 && c <= 0x10ffff ? String.fromCodePoint(c) : '\ufffd'; }
    return nl ? '' : ch;
  });
}

function cssValue(value) {
  if (value.length >= 2 && `"'`.includes(value[0]) && value.at(-1) === value[0]) {
    return cssUnescape(value.slice(1, -1));
  }
  return cssUnescape(value);
}

export function absolute(url, base) {
  try { return new URL(String(url).trim(), base).href; } catch { return null; }
}

// CSS with every url() and @import replaced by what `resolve(absUrl, kind)` gives (a data:
// URL, or null: then an empty string, so nothing is fetched from outside).
export async function rewriteCss(css, base, resolve) {
  const spans = [];
  for (const m of css.matchAll(CSS_TOKEN)) {
    let span, kind;
    if (m.groups.url !== undefined) { span = m.indices.groups.uval; kind = 'css-url'; }
    else if (m.groups.import !== undefined) { span = m.indices.groups.ival; kind = 'style'; }
    else continue;
    const raw = cssValue(css.slice(span[0], span[1]));
    if (!raw || raw.startsWith('data:') || raw.startsWith('#')) continue;
    spans.push({ span, kind, url: absolute(raw, base) });
  }
  if (!spans.length) return css;
  const results = await Promise.all(spans.map((s) => (s.url ? resolve(s.url, s.kind) : null)));
  let out = '', last = 0;
  spans.forEach((s, i) => {
    out += css.slice(last, s.span[0]) + '"' + (results[i] || '') + '"';
    last = s.span[1];
  });
  return out + css.slice(last);
}

function srcsetCandidates(value) {
  // "url descriptor, url descriptor": a URL runs to whitespace and may itself contain commas.
  const out = [];
  let i = 0;
  const n = value.length;
  while (i < n) {
    while (i < n && /[\s,]/.test(value[i])) i++;
    if (i >= n) break;
    let k = i;
    while (k < n && !/\s/.test(value[k])) k++;
    let url = value.slice(i, k);
    let desc = '';
    if (url.endsWith(',')) { url = url.replace(/,+$/, ''); i = k; } else {
      const comma = value.indexOf(',', k);
      desc = value.slice(k, comma < 0 ? n : comma).trim();
      i = comma < 0 ? n : comma + 1;
    }
    out.push({ url, desc });
  }
  return out;
}

const DROP = 'script, object, embed, applet, portal, base, ' +
  'meta[http-equiv="refresh" i], meta[http-equiv="content-security-policy" i], ' +
  'link[rel~="preload" i], link[rel~="modulepreload" i], link[rel~="prefetch" i], ' +
  'link[rel~="preconnect" i], link[rel~="dns-prefetch" i], link[rel~="manifest" i], ' +
  'link[rel~="serviceworker" i], link[rel~="import" i]';

// The rewritten document as a string for `srcdoc`. `ctx.resolve(url, kind)` gives data: URLs;
// `ctx.frame(url, depth)` the srcdoc of a framed archived page (or null).
export async function rewriteHtml(html, pageUrl, ctx, depth = 0) {
  const doc = new DOMParser().parseFromString(html, 'text/html');
  let base = pageUrl;
  const baseEl = doc.querySelector('base[href]');
  if (baseEl) base = absolute(baseEl.getAttribute('href'), pageUrl) || pageUrl;
  for (const el of doc.querySelectorAll(DROP)) el.remove();
  const jobs = [];
  const set = (el, attr, kind, raw) => {
    const url = absolute(raw ?? el.getAttribute(attr), base);
    el.removeAttribute(attr);
    if (!url || url.startsWith('data:')) { if (url) el.setAttribute(attr, url); return; }
    jobs.push(ctx.resolve(url, kind).then((data) => { if (data) el.setAttribute(attr, data); }));
  };
  for (const el of doc.querySelectorAll('*')) {
    for (const a of [...el.attributes]) {
      const name = a.name.toLowerCase();
      if (name.startsWith('on') || name === 'nonce' || name === 'integrity' || name === 'ping' ||
          name === 'formaction' || name === 'action') el.removeAttribute(a.name);
      else if (/^\s*javascript:/i.test(a.value) && name !== 'alt' && name !== 'title') {
        el.removeAttribute(a.name);
      }
    }
    const tag = el.localName.toLowerCase();
    if (el.hasAttribute('style')) {
      const css = el.getAttribute('style');
      jobs.push(rewriteCss(css, base, ctx.resolve).then((v) => el.setAttribute('style', v)));
    }
    if (el.hasAttribute('background')) set(el, 'background', 'image');
    for (const attr of ['srcset', 'imagesrcset']) {
      if (!el.hasAttribute(attr)) continue;
      const cands = srcsetCandidates(el.getAttribute(attr));
      el.removeAttribute(attr);
      jobs.push(Promise.all(cands.map((c) => {
        const url = absolute(c.url, base);
        return url ? ctx.resolve(url, 'image') : null;
      })).then((urls) => {
        const kept = cands.map((c, i) => (urls[i] ? `${urls[i]}${c.desc ? ' ' + c.desc : ''}` : null))
          .filter(Boolean);
        if (kept.length) el.setAttribute(attr, kept.join(', '));
      }));
    }
    if (tag === 'a' || tag === 'area') {
      const href = el.getAttribute('href');
      el.removeAttribute('target');
      if (href !== null && !href.trim().startsWith('#')) {
        const url = absolute(href, base);
        if (url) { el.setAttribute('href', url); el.setAttribute('data-mk-href', url); }
        else el.removeAttribute('href');
      }
    } else if (tag === 'link') {
      const rel = (el.getAttribute('rel') || '').toLowerCase();
      if (/\bstylesheet\b/.test(rel)) set(el, 'href', 'style');
      else if (/\bicon\b/.test(rel)) set(el, 'href', 'image');
      else el.removeAttribute('href');
    } else if (tag === 'style') {
      jobs.push(rewriteCss(el.textContent, base, ctx.resolve).then((v) => { el.textContent = v; }));
    } else if (tag === 'iframe' || tag === 'frame') {
      const src = el.getAttribute('src');
      el.removeAttribute('src');
      el.setAttribute('sandbox', '');
      const url = src && absolute(src, base);
      if (url && depth < 2) {
        jobs.push(ctx.frame(url, depth + 1).then((doc2) => el.setAttribute('srcdoc', doc2)));
      } else if (el.hasAttribute('srcdoc') && depth < 2) {
        jobs.push(rewriteHtml(el.getAttribute('srcdoc'), base, ctx, depth + 1)
          .then((d) => el.setAttribute('srcdoc', d)));
      } else el.removeAttribute('srcdoc');
    } else if (tag === 'form') {
      el.removeAttribute('action');
    } else if (['img', 'source', 'input', 'video', 'audio', 'track', 'embed'].includes(tag)) {
      if (el.hasAttribute('src')) {
        set(el, 'src', tag === 'img' || tag === 'input' ? 'image' : tag === 'track' ? 'text' : 'media');
      }
      if (el.hasAttribute('poster')) set(el, 'poster', 'image');
    } else if (tag === 'image' || tag === 'feimage') {
      for (const attr of ['href', 'xlink:href']) if (el.hasAttribute(attr)) set(el, attr, 'image');
    } else if (tag === 'use' || tag === 'textpath' || tag === 'mpath') {
      // Only references inside the document itself; an outside one would be a request.
      for (const attr of ['href', 'xlink:href']) {
        if (el.hasAttribute(attr) && !el.getAttribute(attr).trim().startsWith('#')) el.removeAttribute(attr);
      }
    }
  }
  await Promise.all(jobs);
  const head = doc.head || doc.documentElement.insertBefore(doc.createElement('head'),
    doc.documentElement.firstChild);
  const csp = doc.createElement('meta');
  csp.setAttribute('http-equiv', 'Content-Security-Policy');
  csp.setAttribute('content', FRAME_CSP);
  head.insertBefore(csp, head.firstChild);
  const referrer = doc.createElement('meta');
  referrer.setAttribute('name', 'referrer');
  referrer.setAttribute('content', 'no-referrer');
  head.insertBefore(referrer, csp.nextSibling);
  const doctype = doc.doctype ? '<!doctype html>' : '';
  return doctype + doc.documentElement.outerHTML;
}
