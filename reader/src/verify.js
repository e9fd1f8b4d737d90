// Verification where the reader is: the datapackage hash, the anonymous ECDSA P-384 signature
// (WebCrypto), the listed resources, the mirrorkit publisher block; then, in the background,
// the streaming SHA-256 (@noble/hashes) of every WARC. Mirrors mirrorkit/verify.py's order.
import { sha256 } from '@noble/hashes/sha2.js';
import { ReaderError, b64decode, hex, sha256hex, utf8, utf8enc } from './util.js';

const HASH_RE = /^sha256:[0-9a-f]{64}$/;

// SHA-256 of the SPKI, uppercase hex in 16 groups of four (mirrorkit.signing.fingerprint).
export async function fingerprint(spki) {
  const h = (await sha256hex(spki)).toUpperCase();
  return h.match(/.{4}/g).join(' ');
}

// What a person typed or pasted, reduced to 64 hex digits (spaces, dashes and case ignored).
export function normalizeFingerprint(text) {
  const clean = String(text || '').replace(/[\s:-]/g, '').toUpperCase();
  return /^[0-9A-F]{64}$/.test(clean) ? clean : null;
}

function json(bytes, name) {
  try {
    const value = JSON.parse(utf8.decode(bytes));
    if (value && typeof value === 'object' && !Array.isArray(value)) return value;
  } catch { /* below */ }
  throw new ReaderError(`${name} is not a valid JSON object`);
}

function badName(path) {
  return !path || path.startsWith('/') || path.includes('\\') || path.split('/').includes('..');
}

// The checks that come before anything is shown. Returns {package, signer, problems, notes}:
// `problems` non-empty means the bundle FAILED; it is never thrown away, so pages stay readable.
export async function verifyManifests(zip) {
  const problems = [], notes = [];
  if (!zip.has('datapackage-digest.json')) {
    throw new ReaderError('the bundle is not signed: it has no datapackage-digest.json');
  }
  const digest = json(await zip.bytes('datapackage-digest.json', 1 << 20), 'datapackage-digest.json');
  const raw = await zip.bytes('datapackage.json');
  const pkg = json(raw, 'datapackage.json');
  const actual = 'sha256:' + (await sha256hex(raw));
  if ((digest.path ?? 'datapackage.json') !== 'datapackage.json') {
    problems.push('datapackage-digest.json describes another file than datapackage.json');
  }
  if (digest.hash !== actual) {
    problems.push('datapackage.json does not match the hash in datapackage-digest.json (the manifest was changed)');
  }
  const signed = digest.signedData;
  let signer = null;
  if (!signed || typeof signed !== 'object') {
    problems.push('the bundle is not signed: datapackage-digest.json has no signedData');
  } else {
    if (signed.hash !== actual) problems.push('the signed hash is not the hash of datapackage.json');
    signer = await checkSignature(signed, problems, notes);
    if (signer && pkg.created && signed.created &&
        Date.parse(pkg.created) !== Date.parse(signed.created)) {
      problems.push(`the signature's created time (${signed.created}) differs from datapackage.json's (${pkg.created})`);
    }
  }
  const resources = checkListing(zip, pkg, problems);
  const publisher = checkPublisher(pkg, signer, problems, notes);
  return { pkg, signer, resources, publisher, problems, notes };
}

async function checkSignature(signed, problems, notes) {
  if (signed.domain || signed.domainCert) {
    notes.push('domain');
    return { kind: 'domain', domain: String(signed.domain || ''), created: signed.created,
      fingerprint: null, valid: null };
  }
  let spki, sig;
  try {
    spki = b64decode(String(signed.publicKey || ''));
    sig = b64decode(String(signed.signature || ''));
  } catch {
    problems.push('the signature or public key is not valid base64');
    return null;
  }
  const fp = await fingerprint(spki);
  let ok = false;
  try {
    const key = await crypto.subtle.importKey('spki', spki, { name: 'ECDSA', namedCurve: 'P-384' },
      false, ['verify']);
    ok = sig.length === 96 && await crypto.subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, key,
      sig, utf8enc.encode(String(signed.hash)));
  } catch {
    problems.push('the public key is not an ECDSA P-384 key');
    return null;
  }
  if (!ok) {
    problems.push('the signature does not verify: the bundle was changed or signed wrongly');
    return null;
  }
  return { kind: 'anonymous', fingerprint: fp, created: signed.created, valid: true };
}

function checkListing(zip, pkg, problems) {
  const todo = [];
  const listed = new Set();
  if (!Array.isArray(pkg.resources)) {
    problems.push('datapackage.json has no resources list');
    return todo;
  }
  for (const entry of pkg.resources) {
    const path = entry && entry.path;
    if (typeof path !== 'string' || badName(path)) {
      problems.push('a resource entry has an unsafe or missing path');
      continue;
    }
    if (listed.has(path)) { problems.push(`${path} is listed twice`); continue; }
    listed.add(path);
    const m = zip.members.get(path);
    if (!m) { problems.push(`${path} is listed but missing from the ZIP`); continue; }
    if (entry.bytes !== m.size) {
      problems.push(`${path} is ${m.size} bytes in the ZIP, the manifest says ${entry.bytes}`);
      continue;
    }
    if (typeof entry.hash !== 'string' || !HASH_RE.test(entry.hash)) {
      problems.push(`${path} has no sha256 hash in the manifest`);
      continue;
    }
    if ((path.startsWith('archive/') || path.endsWith('.cdx.gz')) && m.method !== 0) {
      problems.push(`${path} is compressed inside the ZIP; it must be STORED`);
      continue;
    }
    todo.push({ path, hash: entry.hash.slice(7), size: m.size });
  }
  for (const name of zip.members.keys()) {
    if (!listed.has(name) && name !== 'datapackage.json' && name !== 'datapackage-digest.json' &&
        !name.endsWith('/')) {
      problems.push(`${name} is in the ZIP but not listed in datapackage.json`);
    }
  }
  return todo;
}

function checkPublisher(pkg, signer, problems, notes) {
  const block = pkg.mirrorkit;
  if (block === undefined) { notes.push('no-publisher'); return null; }
  const fp = block && normalizeFingerprint(block.fingerprint);
  if (!block || typeof block.publisher !== 'string' || !fp) {
    problems.push('the mirrorkit block in datapackage.json is invalid');
    return null;
  }
  if (signer && signer.fingerprint && fp !== signer.fingerprint.replace(/ /g, '')) {
    problems.push('datapackage.json names another key as the publisher\'s than the one that signed it');
    return null;
  }
  return { publisher: block.publisher, collection: block.collection, sequence: block.sequence };
}

/* global __HASH_WORKER__ */
let workerUrl = null;

// SHA-256 of a Blob in a Worker (the page stays responsive); null when workers cannot start
// here, and the caller hashes on the page instead.
function hashInWorker(blob, onBytes) {
  let worker;
  try {
    workerUrl ??= URL.createObjectURL(new Blob([__HASH_WORKER__], { type: 'text/javascript' }));
    worker = new Worker(workerUrl);
  } catch {
    return null;
  }
  return new Promise((resolve, reject) => {
    worker.onmessage = ({ data }) => {
      if (data.progress) { onBytes?.(data.progress); return; }
      worker.terminate();
      if (data.error) reject(new ReaderError(data.error)); else resolve(data.hex);
    };
    worker.onerror = (event) => {
      event.preventDefault();
      worker.terminate();
      resolve(null);  // could not run (a browser that refuses blob: workers): hash on the page
    };
    worker.postMessage({ blob, id: 1 });
  });
}

// SHA-256 of a whole member. Up to `whole` bytes it is read at once and hashed natively (the
// index and page list, before anything is shown); beyond, it streams in 1 MB slices through
// @noble/hashes (the WARCs, in the background), yielding between slices so pages stay quick.
export async function hashMember(zip, path, onBytes, whole = 0) {
  const sliceSize = 1 << 20;
  const m = zip.member(path);
  if (m.size <= whole) {  // read at once (and kept for parsing), hashed natively
    const bytes = await zip.bytes(path, whole);
    onBytes?.(m.csize);
    return sha256hex(bytes);
  }
  if (m.method !== 0) {  // deflated (JSON, page lists): hash what it inflates to
    const h = sha256.create();
    const reader = (await zip.stream(path)).getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      h.update(value);
    }
    onBytes?.(m.csize);
    return hex(h.digest());
  }
  const blob = await zip.raw(m);
  // A member small enough is hashed natively; big ones stream through @noble/hashes.
  if (blob.size <= Math.max(sliceSize, whole)) {
    const bytes = new Uint8Array(await blob.arrayBuffer());
    onBytes?.(bytes.length);
    return sha256hex(bytes);
  }
  let done = 0;
  const inWorker = await hashInWorker(blob, (n) => { done += n; onBytes?.(n); });
  if (inWorker) return inWorker;
  onBytes?.(-done);  // the worker gave up part way: start again here
  const h = sha256.create();
  for (let pos = 0; pos < blob.size; pos += sliceSize) {
    const chunk = new Uint8Array(await blob.slice(pos, pos + sliceSize).arrayBuffer());
    h.update(chunk);
    onBytes?.(chunk.length);
    // Let the page breathe between slices: reading stays responsive while this runs.
    await new Promise((r) => setTimeout(r, 0));
  }
  return hex(h.digest());
}
