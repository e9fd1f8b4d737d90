"""QR symbols as images: PNG frames, SVG, the printable A4 sheet and the animated HTML player.

Writing uses zxing-cpp's encoder (zint inside), which we already need for reading: it honours a
fixed version and level, picks the alphanumeric mode for our Base45 text by itself, and takes 3 ms a
version-20 code where the pure-Python writers take 70-80 ms (it matters at hundreds of codes).
qrcode 8.2 was ruled out: its Reed-Solomon step fails with `glog(0)` on some binary-derived payloads
(python-qrcode issues 330 and 423, fixed after that release).
"""

from __future__ import annotations

import base64
import functools
import html
import io
import json
from typing import Any, Sequence

import zxingcpp
from PIL import Image

from mirrorkit.errors import QRError

ECC_LEVELS = ("L", "M", "Q", "H")
QUIET = 4  # modules of white border the standard asks for


def _check(version: int | None, ecc: str) -> str:
    if version is not None and not 1 <= version <= 40:
        raise QRError(f"QR version {version} does not exist: choose 1 to 40")
    if ecc.upper() not in ECC_LEVELS:
        raise QRError(f"unknown error-correction level {ecc!r}: use L, M, Q or H")
    return ecc.upper()


def _symbol(text: str, ecc: str, version: int | None) -> Any:
    ecc = _check(version, ecc)
    options: dict[str, Any] = {"ec_level": ecc}
    if version is not None:
        options["version"] = version
    try:
        return zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.QRCode, **options)
    except Exception as err:  # the binding raises its own error types for "does not fit"
        raise QRError(f"data does not fit a QR code of version {version}-{ecc}: {err}") from None


@functools.cache
def alnum_capacity(version: int, ecc: str) -> int:
    """Alphanumeric characters one QR code of `version` and `ecc` holds; raises `QRError`.

    Found by asking the encoder itself (a binary search), so it is exactly what it accepts.

    >>> alnum_capacity(40, "L"), alnum_capacity(20, "M"), alnum_capacity(1, "H")
    (4296, 970, 10)
    """
    _check(version, ecc)
    lo, hi = 0, 4297
    while hi - lo > 1:
        mid = (lo + hi) // 2
        try:
            _symbol("A" * mid, ecc, version)
            lo = mid
        except QRError:
            hi = mid
    return lo


def byte_capacity(version: int, ecc: str) -> int:
    """Bytes one QR code holds in byte mode (for comparison); raises `QRError`.

    >>> byte_capacity(40, "L"), byte_capacity(40, "H"), byte_capacity(20, "M")
    (2953, 1273, 666)
    """
    # One more alphanumeric character costs 5 or 6 bits, so exactly one multiple of 8 (the symbol's
    # data capacity) lies between the bits c characters use and the bits c + 1 would.
    chars = alnum_capacity(version, ecc)
    count_bits = 9 if version < 10 else 11 if version < 27 else 13
    used = 4 + count_bits + chars // 2 * 11 + (chars % 2) * 6
    data_bits = (used + 7) // 8 * 8
    return (data_bits - 4 - (8 if version < 10 else 16)) // 8


def image(text: str, ecc: str = "M", version: int | None = None) -> Image.Image:
    """1-bit image of the code, one pixel per module, quiet zone included; raises `QRError`."""
    img = _symbol(text, ecc, version).to_image(scale=1, add_quiet_zones=True)
    return Image.frombytes("L", (img.shape[1], img.shape[0]), bytes(memoryview(img))).convert("1")


def matrix(text: str, ecc: str = "M", version: int | None = None) -> list[list[bool]]:
    """Module matrix (with quiet zone) of `text`; raises `QRError` when it does not fit."""
    img = image(text, ecc, version)
    raw = img.convert("L").tobytes()
    width = img.width
    return [[raw[y * width + x] < 128 for x in range(width)] for y in range(img.height)]


def to_image(mat: Sequence[Sequence[bool]], box: int = 1) -> Image.Image:
    """A 1-bit PIL image, `box` pixels per module (never raises)."""
    n = len(mat)
    img = Image.new("1", (n, n), 1)
    img.putdata([0 if cell else 1 for row in mat for cell in row])
    return img.resize((n * box, n * box), Image.Resampling.NEAREST) if box > 1 else img


def png_bytes(img: Image.Image) -> bytes:
    """PNG file bytes of `img` (never raises)."""
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def svg(mat: Sequence[Sequence[bool]], size: str = "100%") -> str:
    """An inline SVG of the matrix as one stroked path: crisp at any print size (never raises)."""
    n = len(mat)
    parts = []
    for y, row in enumerate(mat):
        x = 0
        while x < n:
            if row[x]:
                start = x
                while x < n and row[x]:
                    x += 1
                parts.append(f"M{start} {y}.5h{x - start}")
            else:
                x += 1
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {n} {n}" width="{size}" '
        f'height="{size}" shape-rendering="crispEdges"><rect width="{n}" height="{n}" fill="#fff"/>'
        f'<path stroke="#000" stroke-width="1" d="{"".join(parts)}"/></svg>'
    )


def data_uri(img: Image.Image) -> str:
    """A `data:` URI of `img` as PNG (never raises)."""
    return "data:image/png;base64," + base64.b64encode(png_bytes(img)).decode("ascii")


_SHEET_CSS = """
@page { size: A4; margin: 10mm; }
body { font-family: sans-serif; margin: 0; color: #000; }
.page { break-after: page; }
.page:last-child { break-after: auto; }
.head { font-size: 9pt; margin-bottom: 3mm; line-height: 1.35; }
.head b { font-size: 11pt; }
.mono { font-family: monospace; word-break: break-all; }
.grid { display: grid; justify-content: center; gap: 2mm 4mm;
        grid-template-columns: repeat(COLS, CELLmm); }
.cell { text-align: center; font-size: 8pt; }
.cell img { display: block; width: CELLmm; height: CELLmm; image-rendering: pixelated; }
.foot { font-size: 8pt; margin-top: 2mm; }
"""


def sheet_html(
    title: str, facts: dict[str, str], mats: Sequence[Image.Image], needed: int
) -> str:
    """The printable A4 sheet: pages of numbered codes under a header of facts (never raises).

    `mats` are 1-pixel-per-module images; each is embedded as an 8x PNG (about 300 dpi at print
    size), a tenth of the size of an SVG path for the same code.
    """
    modules = mats[0].width if mats else 21
    cell = max(30.0, min(90.0, modules * 0.5))  # 0.5 mm modules: a phone reads them at 20 cm
    cols = max(1, int((190 + 4) // (cell + 4)))
    rows = max(1, int((277 - 30) // (cell + 9)))  # A4 minus margins and the header
    per_page = cols * rows
    pages = [mats[i : i + per_page] for i in range(0, len(mats), per_page)] or [[]]
    facts_html = "".join(
        f"<div>{html.escape(k)}: <span class=mono>{html.escape(v)}</span></div>"
        for k, v in facts.items()
    )
    how = (
        f"Scan any {needed} of these {len(mats)} codes, in any order (a few more if one fails), "
        "with <span class=mono>mirrorkit qr decode PHOTOS... -o FILE</span>."
    )
    body = []
    for p, chunk in enumerate(pages):
        start = p * per_page
        cells = "".join(
            f"<div class=cell><img alt='code {start + i + 1}' src='"
            f"{data_uri(m)}'>"
            f"<div>{start + i + 1} / {len(mats)}</div></div>"
            for i, m in enumerate(chunk)
        )
        head = (
            f"<div class=head><b>{html.escape(title)}</b>{facts_html}<div>{how}</div></div>"
            if p == 0
            else f"<div class=head><b>{html.escape(title)}</b> — sheet {p + 1} of {len(pages)}"
            f" · SHA-256 <span class=mono>{html.escape(facts.get('SHA-256', '')[:16])}…"
            "</span></div>"
        )
        body.append(f"<section class=page>{head}<div class=grid>{cells}</div></section>")
    css = _SHEET_CSS.replace("COLS", str(cols)).replace("CELL", f"{cell:.1f}")
    return (
        "<!doctype html><html><head><meta charset=utf-8>"
        f"<title>{html.escape(title)} — QR sheet</title><style>{css}</style></head>"
        f"<body>{''.join(body)}</body></html>"
    )


_PLAYER_JS = """
const F = FRAMES, img = document.getElementById('f'), info = document.getElementById('i');
const fps = document.getElementById('fps');
let n = 0, timer = null;
function show() { img.src = F[n]; info.textContent = 'code ' + (n + 1) + ' of ' + F.length; }
function step(d) { n = (n + d + F.length) % F.length; show(); }
function play() {
  clearInterval(timer);
  timer = setInterval(() => step(1), 1000 / Number(fps.value));
  document.getElementById('p').textContent = 'Pause';
}
function pause() {
  clearInterval(timer); timer = null;
  document.getElementById('p').textContent = 'Play';
}
document.getElementById('p').onclick = () => timer ? pause() : play();
document.getElementById('prev').onclick = () => { pause(); step(-1); };
document.getElementById('next').onclick = () => { pause(); step(1); };
fps.oninput = () => { document.getElementById('fv').textContent = fps.value; if (timer) play(); };
document.addEventListener('keydown', e => {
  if (e.key === ' ') { e.preventDefault(); timer ? pause() : play(); }
  if (e.key === 'ArrowRight') { pause(); step(1); }
  if (e.key === 'ArrowLeft') { pause(); step(-1); }
});
show(); play();
"""


def player_html(
    title: str, facts: dict[str, str], frames: Sequence[Image.Image], needed: int
) -> str:
    """A self-contained page that shows the codes one after another (no external resources)."""
    uris = json.dumps([data_uri(f) for f in frames])
    facts_html = " · ".join(f"{html.escape(k)} {html.escape(v)}" for k, v in facts.items())
    return (
        "<!doctype html><html><head><meta charset=utf-8>"
        "<meta name=viewport content='width=device-width,initial-scale=1'>"
        f"<title>{html.escape(title)} — QR player</title><style>"
        "body{margin:0;font-family:sans-serif;background:#fff;text-align:center}"
        "#f{image-rendering:pixelated;width:min(96vw,80vh);height:min(96vw,80vh);display:block;"
        "margin:1vh auto}.c{font-size:14px}.m{font-family:monospace;font-size:11px;color:#444;"
        "word-break:break-all;padding:0 1em}</style></head><body>"
        f"<img id=f alt='QR code'><div class=c><span id=i></span> · photograph or film the screen "
        f"and give the pictures to <code>mirrorkit qr decode</code>: any {needed} different codes "
        "rebuild the file · "
        "<button id=prev>&lt;</button> <button id=p>Pause</button> <button id=next>&gt;</button> "
        "<label>speed <input id=fps type=range min=1 max=15 value=5> <span id=fv>5</span>/s"
        f"</label></div><div class=m>{html.escape(title)} · {facts_html}</div>"
        f"<script>{_PLAYER_JS.replace('FRAMES', uris)}</script></body></html>"
    )


def describe(facts: dict[str, Any]) -> dict[str, str]:
    """Turn a facts dict into printable strings (never raises)."""
    return {k: str(v) for k, v in facts.items() if v not in (None, "")}
