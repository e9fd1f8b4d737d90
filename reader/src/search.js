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

// Matches exactly as serve/search.py's inverted index would (every query token among the
// page's tokens; title matches first, then page order), but without building one: each page's
// text is folded once, a query first keeps the pages whose folded text contains every token
// (a token always is a substring of the text it came from), and only those are tokenized to
// confirm, until `limit` are found. Opening a bundle of 100,000 pages costs no tokenizing.
export class SearchIndex {
  constructor(pages) { this.pages = pages; this.folded = null; this.titles = null; }

  get built() { return this.folded !== null; }

  // Folds the texts in idle slices; resolves once done (at most one build runs).
  build(onProgress) {
    if (!this.building) this.building = this.buildSlices(onProgress);
    return this.building;
  }

  async buildSlices(onProgress) {
    const folded = new Array(this.pages.length), titles = new Array(this.pages.length);
    const slice = 500;
    for (let start = 0; start < this.pages.length; start += slice) {
      const end = Math.min(this.pages.length, start + slice);
      for (let i = start; i < end; i++) {
        const page = this.pages[i];
        folded[i] = fold(`${page.text || ''} ${page.url || ''} ${page.title || ''}`);
        titles[i] = tokens(page.title);
      }
      onProgress?.(end, this.pages.length);
      if (end < this.pages.length) {
        await new Promise((r) => (globalThis.requestIdleCallback ? requestIdleCallback(r, { timeout: 50 })
          : setTimeout(r, 0)));
      }
    }
    this.folded = folded; this.titles = titles;
  }

  // {results: [{page, snippet}], more}: `more` when there are matches past `limit`.
  search(query, limit = 200) {
    const toks = [...new Set(queryTokens(query))];
    if (!toks.length || !this.folded) return { results: [], more: false };
    const inTitle = [];
    for (let i = 0; i < this.pages.length && inTitle.length <= limit; i++) {
      if (toks.every((t) => this.titles[i].has(t))) inTitle.push(i);
    }
    const hits = inTitle.slice(0, limit);
    let more = inTitle.length > limit;
    const titled = new Set(inTitle);
    for (let i = 0; i < this.pages.length && !more; i++) {
      if (titled.has(i) || !toks.every((t) => this.folded[i].includes(t))) continue;
      const page = this.pages[i];
      const mine = tokens(`${page.text || ''} ${page.url || ''}`);
      if (!toks.every((t) => mine.has(t) || this.titles[i].has(t))) continue;
      if (hits.length >= limit) more = true; else hits.push(i);
    }
    const results = hits.map((i) => ({ page: this.pages[i], snippet: snippet(this.pages[i], query, toks) }));
    return { results, more };
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
