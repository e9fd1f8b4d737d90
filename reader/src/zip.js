// The ZIP layer: the central directory and members of a WACZ, read from a Blob in slices.
// Members are never read whole unless asked (JSON files); WARCs are sliced at record offsets.
import { ReaderError, inflate, readAll, sliceBytes, utf8 } from './util.js';

const EOCD = 0x06054b50, EOCD64 = 0x06064b50, LOC64 = 0x07064b50, CEN = 0x02014b50;
const LOC = 0x04034b50;
const MAX_MEMBERS = 100000;

function u64(view, pos) {
  const value = view.getUint32(pos, true) + view.getUint32(pos + 4, true) * 2 ** 32;
  if (!Number.isSafeInteger(value)) throw new ReaderError('ZIP offset out of range');
  return value;
}

export class Zip {
  constructor(blob) {
    this.blob = blob;
    this.members = new Map();
    // While a bundle opens, small members read once (page list, index) are kept here so that
    // hashing and parsing share one read; dropped once open.
    this.keep = new Map();
  }

  // Reads the end record and the central directory; throws ReaderError on a non-ZIP.
  async open() {
    const size = this.blob.size;
    if (size < 22) throw new ReaderError('this file is not a WACZ bundle (too small for a ZIP)');
    const tailStart = Math.max(0, size - 65557);
    const tail = await sliceBytes(this.blob, tailStart, size);
    const view = new DataView(tail.buffer, tail.byteOffset, tail.length);
    let at = -1;
    for (let i = tail.length - 22; i >= 0; i--) {
      if (view.getUint32(i, true) === EOCD) { at = i; break; }
    }
    if (at < 0) throw new ReaderError('this file is not a WACZ bundle (no ZIP directory found)');
    let count = view.getUint16(at + 10, true);
    let cdSize = view.getUint32(at + 12, true);
    let cdOffset = view.getUint32(at + 16, true);
    if (at >= 20 && view.getUint32(at - 20, true) === LOC64) {
      const recAt = u64(view, at - 20 + 8);
      const rec = await sliceBytes(this.blob, recAt, recAt + 56);
      const rv = new DataView(rec.buffer, rec.byteOffset, rec.length);
      if (rec.length < 56 || rv.getUint32(0, true) !== EOCD64) {
        throw new ReaderError('the ZIP64 directory record is damaged');
      }
      count = u64(rv, 32); cdSize = u64(rv, 40); cdOffset = u64(rv, 48);
    }
    if (count > MAX_MEMBERS || cdOffset + cdSize > size) {
      throw new ReaderError('the ZIP directory is damaged (it points outside the file)');
    }
    const cd = await sliceBytes(this.blob, cdOffset, cdOffset + cdSize);
    const cv = new DataView(cd.buffer, cd.byteOffset, cd.length);
    let pos = 0;
    for (let n = 0; n < count; n++) {
      if (pos + 46 > cd.length || cv.getUint32(pos, true) !== CEN) {
        throw new ReaderError('the ZIP directory is damaged');
      }
      const method = cv.getUint16(pos + 10, true);
      let csize = cv.getUint32(pos + 20, true);
      let usize = cv.getUint32(pos + 24, true);
      const nameLen = cv.getUint16(pos + 28, true);
      const extraLen = cv.getUint16(pos + 30, true);
      const commentLen = cv.getUint16(pos + 32, true);
      let local = cv.getUint32(pos + 42, true);
      const name = utf8.decode(cd.subarray(pos + 46, pos + 46 + nameLen));
      let e = pos + 46 + nameLen;
      const extraEnd = e + extraLen;
      while (e + 4 <= extraEnd) {  // ZIP64 extra field: the 0xFFFFFFFF sizes live here
        const id = cv.getUint16(e, true), len = cv.getUint16(e + 2, true);
        if (id === 1) {
          let p = e + 4;
          if (usize === 0xffffffff) { usize = u64(cv, p); p += 8; }
          if (csize === 0xffffffff) { csize = u64(cv, p); p += 8; }
          if (local === 0xffffffff) { local = u64(cv, p); p += 8; }
        }
        e += 4 + len;
      }
      if (this.members.has(name)) throw new ReaderError(`the ZIP holds ${name} twice`);
      this.members.set(name, { name, method, csize, size: usize, local, start: null });
      pos = extraEnd + commentLen;
    }
    return this;
  }

  has(name) { return this.members.has(name); }

  member(name) {
    const m = this.members.get(name);
    if (!m) throw new ReaderError(`the bundle has no ${name}`);
    return m;
  }

  // Offset of a member's data (after its local header), read once and kept.
  async start(m) {
    if (m.start === null) {
      const head = await sliceBytes(this.blob, m.local, m.local + 30);
      const hv = new DataView(head.buffer, head.byteOffset, head.length);
      if (head.length < 30 || hv.getUint32(0, true) !== LOC) {
        throw new ReaderError(`the ZIP entry for ${m.name} is damaged`);
      }
      m.start = m.local + 30 + hv.getUint16(26, true) + hv.getUint16(28, true);
      if (m.start + m.csize > this.blob.size) {
        throw new ReaderError(`${m.name} runs past the end of the file (truncated copy?)`);
      }
    }
    return m.start;
  }

  // The member's stored bytes as a Blob (a slice: nothing is read yet).
  async raw(m) {
    const start = await this.start(m);
    return this.blob.slice(start, start + m.csize);
  }

  // A STORED member as a Blob, for reading records at offsets.
  async stored(name) {
    const m = this.member(name);
    if (m.method !== 0) throw new ReaderError(`${name} is compressed inside the ZIP; it must be STORED`);
    return this.raw(m);
  }

  // The member's uncompressed content as a stream.
  async stream(name) {
    const m = this.member(name);
    const raw = (await this.raw(m)).stream();
    if (m.method === 0) return raw;
    if (m.method === 8) return raw.pipeThrough(new DecompressionStream('deflate-raw'));
    throw new ReaderError(`${name} uses ZIP compression method ${m.method}, which is not supported`);
  }

  // The whole member, decompressed, at most `limit` bytes.
  async bytes(name, limit = 64 * 1024 * 1024) {
    if (this.keep && this.keep.has(name)) return this.keep.get(name);
    const m = this.member(name);
    if (this.keep) {
      const p = this.readBytes(m, name, limit);
      this.keep.set(name, p);
      return p;
    }
    return this.readBytes(m, name, limit);
  }

  async readBytes(m, name, limit) {
    if (m.size > limit) throw new ReaderError(`${name} is implausibly large (${m.size} bytes)`);
    if (m.method === 0) return new Uint8Array(await (await this.raw(m)).arrayBuffer());
    return readAll(await this.stream(name), limit, name);
  }
}

export { inflate };
