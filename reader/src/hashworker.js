// The background full check's hashing, off the page's thread: SHA-256 (@noble/hashes) of one
// Blob, read in 4 MB slices, with progress. Built as its own bundle and started from a blob: URL.
import { sha256 } from '@noble/hashes/sha2.js';

self.onmessage = async (event) => {
  const { blob, id } = event.data;
  try {
    const h = sha256.create();
    const step = 4 << 20;
    for (let pos = 0; pos < blob.size; pos += step) {
      const chunk = new Uint8Array(await blob.slice(pos, pos + step).arrayBuffer());
      h.update(chunk);
      self.postMessage({ id, progress: chunk.length });
    }
    const digest = h.digest();
    let hex = '';
    for (const b of digest) hex += b.toString(16).padStart(2, '0');
    self.postMessage({ id, hex });
  } catch (err) {
    self.postMessage({ id, error: String((err && err.message) || err) });
  }
};
