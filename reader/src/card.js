// The trust card's QR text (docs/architecture.md): `MIRRORKIT:KEY:1:` + Base45(len(SPKI) u8 |
// SPKI DER | name UTF-8), read with the browser's BarcodeDetector where it has one.
import { fingerprint } from './verify.js';

const B45 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:';
const PREFIX = 'MIRRORKIT:KEY:1:';

export function base45decode(text) {
  const out = [];
  for (let i = 0; i < text.length; i += 3) {
    const chunk = text.slice(i, i + 3);
    const vals = [...chunk].map((c) => B45.indexOf(c));
    if (vals.some((v) => v < 0) || chunk.length === 1) return null;
    const n = vals[0] + vals[1] * 45 + (vals.length === 3 ? vals[2] * 2025 : 0);
    if (chunk.length === 3) {
      if (n > 0xffff) return null;
      out.push(n >> 8, n & 0xff);
    } else {
      if (n > 0xff) return null;
      out.push(n);
    }
  }
  return new Uint8Array(out);
}

// {name, fingerprint} of a card's text, or null when it is not a trust card.
export async function readCardText(text) {
  if (!String(text).startsWith(PREFIX)) return null;
  const data = base45decode(String(text).slice(PREFIX.length).trim());
  if (!data || data.length < 2 || data[0] + 1 > data.length) return null;
  const spki = data.subarray(1, 1 + data[0]);
  const name = new TextDecoder().decode(data.subarray(1 + data[0]));
  return { name, fingerprint: await fingerprint(spki) };
}

export function canScan() {
  return typeof window.BarcodeDetector === 'function' && Boolean(navigator.mediaDevices);
}

// Opens the camera in `video` and resolves with the first trust card seen; `stop()` ends it.
export function scanCard(video, onWrongCode) {
  let stopped = false, stream = null;
  const done = (async () => {
    stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment' } });
    video.srcObject = stream;
    await video.play();
    const detector = new window.BarcodeDetector({ formats: ['qr_code'] });
    while (!stopped) {
      const codes = await detector.detect(video).catch(() => []);
      for (const code of codes) {
        const card = await readCardText(code.rawValue);
        if (card) return card;
        onWrongCode?.();
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    return null;
  })().finally(() => { if (stream) for (const tr of stream.getTracks()) tr.stop(); });
  return { done, stop: () => { stopped = true; } };
}
