// Full-text search over pages.jsonl, as serve/search.py does it: lowercased words, and CJK
// runs as single characters plus overlapping bigrams, so any Chinese word of two or more
// characters is found without a dictionary. Built on the first search, not at start-up.
const CJK = '\\u3040-\\u30ff\\u3400-\\u4dbf\\u4e00-\\u9fff\\uf900-\\ufaff\\uac00-\\ud7af\\u{20000}-\\u{2ffff}';
const RUN = new RegExp(`([${CJK}]+)|([^\\P{L}${CJK}]|[\\p{N}\\p{M}])+`, 'gu');

function fold(text) { return String(text || '').normalize('NFKC').toLowerCase(); }

function* runs(text) {
  for (const m of fold(text).matchAll(RUN)) {
    if (m[1]) yield { cjk: Array.from(m[1]) };
    else yield { word: m[0] };
  }
}

export function tokens(text) {
  const out = new Set();
  for (const r of runs(text)) {
    if (r.word) out.add(r.word);
    else {
      for (let i = 0; i < r.cjk.length; i++) {
        out.add(r.cjk[i]);
        if (i + 1 < r.cjk.length) out.add(r.cjk[i] + r.cjk[i + 1]);
      }
    }
  }
  return out;
}

export function queryTokens(query) {
  const out = [];
  for (const r of runs(query)) {
    if (r.word) out.push(r.word);
    else if (r.cjk.length === 1) out.push(r.cjk[0]);
    else for (let i = 0; i + 1 < r.cjk.length; i++) out.push(r.cjk[i] + r.cjk[i + 1]);
  }
  return out;
}

export class SearchIndex {
  constructor(pages) { this.pages = pages; this.title = null; this.body = null; }

  build() {
    if (this.body) return;
    const title = new Map(), body = new Map();
    const add = (map, tok, i) => {
      const list = map.get(tok);
      if (!list) map.set(tok, [i]); else if (list[list.length - 1] !== i) list.push(i);
    };
    this.pages.forEach((page, i) => {
      const inTitle = tokens(page.title);
      for (const t of inTitle) { add(title, t, i); add(body, t, i); }
      for (const t of tokens(`${page.text || ''} ${page.url || ''}`)) add(body, t, i);
    });
    this.title = title; this.body = body;
  }

  static all(map, toks) {
    const lists = [...new Set(toks)].map((t) => map.get(t));
    if (!lists.length || lists.some((l) => !l)) return new Set();
    lists.sort((a, b) => a.length - b.length);
    let result = new Set(lists[0]);
    for (const l of lists.slice(1)) {
      const s = new Set(l);
      result = new Set([...result].filter((i) => s.has(i)));
      if (!result.size) break;
    }
    return result;
  }

  // Matching pages (title matches first), each with a snippet around the first hit.
  search(query, limit = 200) {
    const toks = queryTokens(query);
    if (!toks.length) return [];
    this.build();
    const inTitle = SearchIndex.all(this.title, toks);
    const inBody = [...SearchIndex.all(this.body, toks)].filter((i) => !inTitle.has(i));
    const order = [...[...inTitle].sort((a, b) => a - b), ...inBody.sort((a, b) => a - b)];
    return order.slice(0, limit).map((i) => ({ page: this.pages[i], snippet: snippet(this.pages[i], query, toks) }));
  }
}

export function snippet(page, query, toks, width = 80) {
  const text = String(page.text || '').split(/\s+/).join(' ').trim();
  if (!text) return '';
  const folded = fold(text);
  let pos = folded.indexOf(fold(query.trim()));
  for (const t of toks) { if (pos >= 0) break; pos = folded.indexOf(t); }
  if (pos < 0) return text.slice(0, width * 2);
  const start = Math.max(0, pos - width);
  return (start ? '…' : '') + text.slice(start, pos + width) + (pos + width < text.length ? '…' : '');
}
