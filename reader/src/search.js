// Full-text search over pages.jsonl, as serve/search.py does it: lowercased words, and CJK
// runs as single characters plus overlapping bigrams, so any Chinese word of two or more
// characters is found without a dictionary. Built on the first search, not at start-up.
const CJK = '\\u3040-\\u30ff\\u3400-\\u4dbf\\u4e00-\\u9fff\\uf900-\\ufaff\\uac00-\\ud7af\\u{20000}-\\u{2ffff}';
// A CJK run, or a run of other letters, digits and marks (as Python's [^\W_] less CJK).
const RUN = new RegExp(`([${CJK}]+)|((?:[^\\P{L}${CJK}]|[\\p{N}\\p{M}])+)`, 'gu');

// Python's casefold() as far as text here needs it: lower case plus the folds it adds.
function fold(text) {
  return String(text || '').normalize('NFKC').toLowerCase().replace(/ß/g, 'ss').replace(/ς/g, 'σ');
}

// Calls word(w) for each word and cjk(chars) for each CJK run (an array of characters).
function eachRun(text, word, cjk) {
  const folded = fold(text);
  RUN.lastIndex = 0;
  let m;
  while ((m = RUN.exec(folded)) !== null) {
    if (m[2] !== undefined) word(m[2]);
    else cjk(/[\ud800-\udfff]/.test(m[1]) ? Array.from(m[1]) : m[1].split(''));
  }
}

export function tokens(text) {
  const out = new Set();
  eachRun(text, (w) => out.add(w), (chars) => {
    for (let i = 0; i < chars.length; i++) {
      out.add(chars[i]);
      if (i + 1 < chars.length) out.add(chars[i] + chars[i + 1]);
    }
  });
  return out;
}

export function queryTokens(query) {
  const out = [];
  eachRun(query, (w) => out.push(w), (chars) => {
    if (chars.length === 1) out.push(chars[0]);
    else for (let i = 0; i + 1 < chars.length; i++) out.push(chars[i] + chars[i + 1]);
  });
  return out;
}

export class SearchIndex {
  constructor(pages) { this.pages = pages; this.title = null; this.body = null; }

  get built() { return this.body !== null; }

  // Builds the index in slices, yielding between them, so typing and reading stay smooth on a
  // phone even with 100,000 pages; resolves once it is built (at most one build runs).
  build(onProgress) {
    if (!this.building) this.building = this.buildSlices(onProgress);
    return this.building;
  }

  async buildSlices(onProgress) {
    const title = new Map(), body = new Map();
    const add = (map, tok, i) => {
      const list = map.get(tok);
      if (!list) map.set(tok, [i]); else if (list[list.length - 1] !== i) list.push(i);
    };
    const slice = 250;
    for (let start = 0; start < this.pages.length; start += slice) {
      const end = Math.min(this.pages.length, start + slice);
      for (let i = start; i < end; i++) {
        const page = this.pages[i];
        const inTitle = tokens(page.title);
        for (const t of inTitle) { add(title, t, i); add(body, t, i); }
        for (const t of tokens(`${page.text || ''} ${page.url || ''}`)) add(body, t, i);
      }
      onProgress?.(end, this.pages.length);
      if (end < this.pages.length) {
        await new Promise((r) => (self.requestIdleCallback ? requestIdleCallback(r, { timeout: 50 })
          : setTimeout(r, 0)));
      }
    }
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

  // Matching pages (title matches first), each with a snippet around the first hit; call
  // after `await build()`.
  search(query, limit = 200) {
    const toks = queryTokens(query);
    if (!toks.length || !this.body) return [];
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
