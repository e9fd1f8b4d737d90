// One WARC record at a time: slice the gzip member at its offset, check it against the
// index's recordDigest before anything of it is used, inflate it, split headers from body.
import { ReaderError, concat, inflate, sha256hex } from './util.js';

const MAX_RECORD = 256 * 1024 * 1024;

export class DamagedRecord extends ReaderError {
  constructor(message, entry) { super(message); this.name = 'DamagedRecord'; this.entry = entry; }
}

function findCrlf2(bytes, from) {
  for (let i = from; i + 3 < bytes.length; i++) {
    if (bytes[i] === 13 && bytes[i + 1] === 10 && bytes[i + 2] === 13 && bytes[i + 3] === 10) return i;
  }
  return -1;
}

// Header lines into a Map of lowercased names (first value wins, as warcio).
export function parseHeaders(text) {
  const lines = text.split(/\r?\n/);
  const first = lines.shift() || '';
  const headers = new Map();
  for (const line of lines) {
    const i = line.indexOf(':');
    if (i <= 0) continue;
    const name = line.slice(0, i).trim().toLowerCase();
    if (!headers.has(name)) headers.set(name, line.slice(i + 1).trim());
  }
  return { first, headers };
}

const latin1 = new TextDecoder('latin1');

// Reads and checks one record; `entry` is an index entry (filename, offset, length,
// recordDigest). Returns {warc: Map, http: Map|null, status, body: Uint8Array, checked}.
export async function readRecord(zip, entry) {
  const offset = Number(entry.offset), length = Number(entry.length);
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 ||
      length <= 0 || length > MAX_RECORD) {
    throw new DamagedRecord(`the index entry for ${entry.url} has a bad offset or length`, entry);
  }
  const warc = await zip.stored('archive/' + entry.filename);
  if (offset + length > warc.size) {
    throw new DamagedRecord(`the record for ${entry.url} lies beyond the end of its WARC`, entry);
  }
  const stored = new Uint8Array(await warc.slice(offset, offset + length).arrayBuffer());
  let checked = false;
  const want = entry.recordDigest;
  if (typeof want === 'string' && want.startsWith('sha256:')) {
    if ((await sha256hex(stored)) !== want.slice(7).toLowerCase()) {
      throw new DamagedRecord(`the record for ${entry.url} does not match its digest: damaged or changed`, entry);
    }
    checked = true;
  }
  let data = stored;
  if (stored[0] === 0x1f && stored[1] === 0x8b) {
    data = await inflate(stored, 'gzip', MAX_RECORD, `the record for ${entry.url}`)
      .catch((err) => { throw new DamagedRecord(err.message, entry); });
  }
  const end = findCrlf2(data, 0);
  if (end < 0 || !latin1.decode(data.subarray(0, 9)).startsWith('WARC/')) {
    throw new DamagedRecord(`the record for ${entry.url} is not a WARC record`, entry);
  }
  const { headers: warcHeaders } = parseHeaders(latin1.decode(data.subarray(0, end)));
  const blockLen = Number(warcHeaders.get('content-length') || '0');
  let block = data.subarray(end + 4, end + 4 + blockLen);
  const type = warcHeaders.get('warc-type') || '';
  let http = null, status = 200, mimeHeader = warcHeaders.get('content-type') || '';
  if ((type === 'response' || type === 'revisit') && /^application\/http/i.test(mimeHeader)) {
    const hend = findCrlf2(block, 0);
    const head = latin1.decode(hend < 0 ? block : block.subarray(0, hend));
    const parsed = parseHeaders(head);
    http = parsed.headers;
    status = Number((/^HTTP\/[\d.]+\s+(\d{3})/i.exec(parsed.first) || [])[1] || 200);
    block = hend < 0 ? new Uint8Array(0) : block.subarray(hend + 4);
    mimeHeader = http.get('content-type') || '';
  }
  return { type, warc: warcHeaders, http, status, contentType: mimeHeader, body: block, checked };
}

function dechunk(body) {
  const parts = [];
  let pos = 0;
  for (;;) {
    let eol = pos;
    while (eol + 1 < body.length && !(body[eol] === 13 && body[eol + 1] === 10)) eol++;
    if (eol + 1 >= body.length) return null;
    const size = parseInt(latin1.decode(body.subarray(pos, eol)).split(';')[0].trim(), 16);
    if (Number.isNaN(size)) return null;
    if (size === 0) return concat(parts);
    parts.push(body.subarray(eol + 2, eol + 2 + size));
    pos = eol + 2 + size + 2;
  }
}

let brotli = null, zstd = null;
export function setDecoders(decoders) { brotli = decoders.brotli; zstd = decoders.zstd; }

// The payload as a browser would see it: chunking and Content-Encoding removed. Throws
// ReaderError("cannot be decoded here") for encodings no decoder is bundled for.
export async function decodedBody(rec) {
  let body = rec.body;
  if (!rec.http) return body;
  if (/chunked/i.test(rec.http.get('transfer-encoding') || '')) body = dechunk(body) || body;
  const encodings = (rec.http.get('content-encoding') || '').toLowerCase().split(',')
    .map((s) => s.trim()).filter((s) => s && s !== 'identity').reverse();
  for (const enc of encodings) {
    if (enc === 'gzip' || enc === 'x-gzip') body = await inflate(body, 'gzip', MAX_RECORD, 'a gzip body');
    else if (enc === 'deflate') {
      try { body = await inflate(body, 'deflate', MAX_RECORD, 'a deflate body'); } catch {
        body = await inflate(body, 'deflate-raw', MAX_RECORD, 'a deflate body');
      }
    } else if (enc === 'br' && brotli) body = brotli(body);
    else if (enc === 'zstd' && zstd) body = zstd(body);
    else throw new ReaderError(`content encoded with "${enc}" cannot be decoded here`);
  }
  return body;
}

// The charset named by a Content-Type value, or null.
export function charsetOf(contentType) {
  const m = /charset\s*=\s*["']?([^"';\s]+)/i.exec(contentType || '');
  return m ? m[1] : null;
}

export function mimeOf(contentType) {
  return (contentType || '').split(';')[0].trim().toLowerCase();
}
