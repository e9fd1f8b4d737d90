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
  const text = script.textContent.replace(/\s+/g, '');
  const parts = [];
  const step = 4 * 1024 * 1024;  // a multiple of 4: each piece decodes on its own
  for (let i = 0; i < text.length; i += step) {
    const bin = atob(text.slice(i, i + step));
    const bytes = new Uint8Array(bin.length);
    for (let j = 0; j < bin.length; j++) bytes[j] = bin.charCodeAt(j);
    parts.push(bytes);
  }
  script.textContent = '';
  return new File(parts, script.dataset.name || 'bundle.wacz', { type: 'application/zip' });
}

setLanguage(detectLanguage());
setup();
const embedded = embeddedBundle();
if (embedded) {
  document.body.classList.add('embedded');
  openFile(embedded);
}
