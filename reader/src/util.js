// Small helpers shared by the modules: reading streams with a size limit, bytes <-> text.

export class ReaderError extends Error {
  // A problem with the bundle (not a bug): shown to the reader as it is.
  constructor(message) { super(message); this.name = 'ReaderError'; }
}

export const utf8 = new TextDecoder('utf-8');
export const utf8enc = new TextEncoder();

// Reads a whole stream into one Uint8Array; throws when it grows past `limit` bytes, so a
// hostile member cannot inflate into all of the phone's memory.
export async function readAll(stream, limit, what) {
  const reader = stream.getReader();
  const parts = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.length;
      if (total > limit) throw new ReaderError(`${what} is larger than ${limit} bytes`);
      parts.push(value);
    }
  } catch (err) {
    if (err instanceof ReaderError) throw err;
    throw new ReaderError(`${what} cannot be decompressed (${err.message || err})`);
  } finally {
    reader.releaseLock();
  }
  return concat(parts, total);
}

export function concat(parts, total) {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(total ?? parts.reduce((n, p) => n + p.length, 0));
  let pos = 0;
  for (const p of parts) { out.set(p, pos); pos += p.length; }
  return out;
}

export async function sliceBytes(blob, start, end) {
  return new Uint8Array(await blob.slice(start, end).arrayBuffer());
}

export function inflate(bytes, format, limit, what) {
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream(format));
  return readAll(stream, limit, what);
}

export function hex(bytes) {
  let out = '';
  for (const b of bytes) out += b.toString(16).padStart(2, '0');
  return out;
}

export async function sha256hex(bytes) {
  return hex(new Uint8Array(await crypto.subtle.digest('SHA-256', bytes)));
}

export function b64decode(text) {
  const bin = atob(text.replace(/\s+/g, ''));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

// A data: URL of `bytes`, encoded natively (FileReader) rather than byte by byte in JS.
export function dataUrl(bytes, mime) {
  return new Promise((resolve, reject) => {
    const fr = new FileReader();
    fr.onload = () => resolve(fr.result);
    fr.onerror = () => reject(fr.error);
    fr.readAsDataURL(new Blob([bytes], { type: mime || 'application/octet-stream' }));
  });
}
