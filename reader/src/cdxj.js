// The CDXJ index: a plain `index.cdxj`, or `index.idx` + `index.cdx.gz` blocks inflated on
// demand (each checked against its sha256 in the idx). Lookups are by SURT key, closest capture.
import { surtKey } from './surt.js';
import { ReaderError, inflate, sha256hex, utf8 } from './util.js';

const MAX_BLOCK = 16 * 1024 * 1024;
const MAX_INFLATED = 128 * 1024 * 1024;

export function parseLine(line) {
  const sp1 = line.indexOf(' ');
  const sp2 = line.indexOf(' ', sp1 + 1);
  if (sp1 < 1 || sp2 < 0) return null;
  try {
    const fields = JSON.parse(line.slice(sp2 + 1));
    if (!fields || typeof fields !== 'object') return null;
    return { key: line.slice(0, sp1), ts: line.slice(sp1 + 1, sp2), ...fields };
  } catch { return null; }
}

function lowerBound(arr, target, get = (x) => x) {
  let lo = 0, hi = arr.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (get(arr[mid]) < target) lo = mid + 1; else hi = mid;
  }
  return lo;
}

// Seconds since 1970 of a 14 (or 17) digit timestamp, for "closest capture".
export function tsSeconds(ts) {
  const d = (String(ts) + '19700101000000').slice(0, 14);
  return Date.UTC(+d.slice(0, 4), (+d.slice(4, 6) || 1) - 1, +d.slice(6, 8) || 1,
    +d.slice(8, 10), +d.slice(10, 12), +d.slice(12, 14)) / 1000;
}

export function closest(entries, ts) {
  if (!ts) return entries[0] || null;
  const target = tsSeconds(ts);
  let best = null, bestD = 0;
  for (const e of entries) {
    const d = Math.abs(tsSeconds(e.ts) - target);
    if (best === null || d < bestD) { best = e; bestD = d; }
  }
  return best;
}

export class Index {
  constructor() {
    this.lines = null;      // plain index: sorted lines
    this.blockKeys = [];    // compressed: first key of each block
    this.blocks = [];       // compressed: {offset, length, digest}
    this.cdx = null;        // compressed: Blob of index.cdx.gz
    this.cache = new Map();
  }

  static async open(zip) {
    const idx = new Index();
    const names = [...zip.members.keys()];
    const idxName = names.find((n) => n.startsWith('indexes/') && n.endsWith('.idx'));
    if (idxName) {
      const text = utf8.decode(await zip.bytes(idxName));
      let cdxName = idxName.replace(/[^/]*$/, 'index.cdx.gz');
      for (const raw of text.split('\n')) {
        const line = raw.trim();
        if (!line) continue;
        if (line.startsWith('!meta')) {
          try {
            const meta = JSON.parse(line.slice(line.indexOf('{')));
            if (meta.filename) cdxName = 'indexes/' + meta.filename;
          } catch { /* the default name */ }
          continue;
        }
        if (line.startsWith('!')) continue;
        const brace = line.indexOf(' {');
        let info;
        try { info = JSON.parse(line.slice(brace + 1)); } catch { info = null; }
        if (brace < 0 || !info || !(info.length > 0) || !(info.offset >= 0) || info.length > MAX_BLOCK) {
          throw new ReaderError(`index.idx has a bad line: ${line.slice(0, 80)}`);
        }
        idx.blockKeys.push(line.slice(0, brace));
        idx.blocks.push({ offset: +info.offset, length: +info.length, digest: info.digest });
      }
      for (let i = 1; i < idx.blockKeys.length; i++) {
        if (idx.blockKeys[i] < idx.blockKeys[i - 1]) throw new ReaderError('index.idx is not sorted');
      }
      idx.cdx = await zip.stored(cdxName);
      idx.cdxName = cdxName;
      idx.files = [idxName, cdxName];
    } else {
      const name = names.find((n) => n.startsWith('indexes/') && /\.cdxj?$/.test(n));
      if (!name) throw new ReaderError('the bundle has no index (indexes/index.cdxj or index.idx)');
      const text = utf8.decode(await zip.bytes(name));
      idx.lines = text.split('\n').filter((l) => l && !l.startsWith('!'));
      // Sorted by the writer; sorting again costs little and makes a lookup on a foreign
      // index that is not sorted find its lines all the same.
      idx.lines.sort();
      idx.files = [name];
    }
    return idx;
  }

  get count() { return this.lines ? this.lines.length : this.blocks.length * 1024; }

  async block(n) {
    let lines = this.cache.get(n);
    if (lines) return lines;
    const { offset, length, digest } = this.blocks[n];
    if (offset + length > this.cdx.size) {
      throw new ReaderError(`index.cdx.gz is shorter than index.idx says (block ${n})`);
    }
    const data = new Uint8Array(await this.cdx.slice(offset, offset + length).arrayBuffer());
    if (typeof digest === 'string' && digest.startsWith('sha256:') &&
        (await sha256hex(data)) !== digest.slice(7)) {
      throw new ReaderError(`index block ${n} does not match its digest in index.idx (damaged)`);
    }
    const text = utf8.decode(await inflate(data, 'gzip', MAX_INFLATED, `index block ${n}`));
    lines = text.split('\n').filter((l) => l);
    this.cache.set(n, lines);
    if (this.cache.size > 8) this.cache.delete(this.cache.keys().next().value);
    return lines;
  }

  // Every entry whose line starts with `prefix`, in index order.
  async prefix(prefix) {
    const out = [];
    if (this.lines) {
      for (let i = lowerBound(this.lines, prefix); i < this.lines.length; i++) {
        if (!this.lines[i].startsWith(prefix)) break;
        const e = parseLine(this.lines[i]);
        if (e) out.push(e);
      }
      return out;
    }
    const start = Math.max(0, lowerBound(this.blockKeys, prefix) - 1);
    for (let n = start; n < this.blocks.length; n++) {
      const first = this.blockKeys[n];
      if (n > start && first > prefix && !first.startsWith(prefix)) break;
      const lines = await this.block(n);
      let past = false;
      for (let i = lowerBound(lines, prefix); i < lines.length; i++) {
        if (!lines[i].startsWith(prefix)) { past = true; break; }
        const e = parseLine(lines[i]);
        if (e) out.push(e);
      }
      if (past) break;
    }
    return out;
  }

  // Every capture of `url` (other tools' keys may keep a trailing slash: tried too).
  async lookup(url) {
    const key = surtKey(url);
    let found = await this.prefix(key + ' ');
    if (!found.length && !key.endsWith('/')) found = await this.prefix(key + '/ ');
    return found;
  }

  // Iterates all entries (for bundles without pages.jsonl).
  async *all() {
    if (this.lines) {
      for (const l of this.lines) { const e = parseLine(l); if (e) yield e; }
      return;
    }
    for (let n = 0; n < this.blocks.length; n++) {
      for (const l of await this.block(n)) { const e = parseLine(l); if (e) yield e; }
    }
  }
}
