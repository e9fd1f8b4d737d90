// Entry point: sets the language, wires the screen, and opens the embedded bundle when this
// is a single-file edition (a base64 <script type="application/octet-stream">).
import { decompress as brotliDecompress } from 'brotli/decompress.js';
import { decompress as zstdDecompress } from 'fzstd';
import { detectLanguage, setLanguage } from './i18n.js';
import { openFile, setup } from './ui.js';
import { setDecoders } from './warc.js';

setDecoders({
  brotli: (bytes) => brotliDecompress(bytes),
  zstd: (bytes) => zstdDecompress(bytes),
});

// The embedded bundle is decoded once into a Blob, so it is read through the same slices as
// a picked file; the base64 text is dropped afterwards.
function embeddedBundle() {
  const script = document.getElementById('mirrorkit-bundle');
  if (!script || !script.textContent.trim()) return null;
  const text = script.textContent;
  script.textContent = '';
  // `mirrorkit reader BUNDLE` writes 76 base64 characters and a newline per line, so pieces of
  // whole lines decode on their own (atob skips the newlines): no second copy of the text.
  const first = text.search(/\S/);
  const lined = text[first + 76] === '\n' || text.length - first <= 77;
  const src = lined ? text : text.replace(/\s+/g, '');
  const step = lined ? 77 * 65536 : 4 * 1024 * 1024;
  const parts = [];
  for (let i = lined ? first : 0; i < src.length; i += step) {
    const bin = atob(src.slice(i, i + step));
    const bytes = new Uint8Array(bin.length);
    for (let j = 0; j < bin.length; j++) bytes[j] = bin.charCodeAt(j);
    parts.push(bytes);
  }
  return new File(parts, script.dataset.name || 'bundle.wacz', { type: 'application/zip' });
}

setLanguage(detectLanguage());
setup();
const embedded = embeddedBundle();
if (embedded) {
  document.body.classList.add('embedded');
  openFile(embedded);
}
