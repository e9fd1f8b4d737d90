"""Trust cards: a publisher's public key as a printable QR code with its name and fingerprint.

The QR text is ``MIRRORKIT:KEY:1:`` + Base45 of ``len(SPKI) u8 | SPKI DER | name UTF-8``, entirely
in the QR alphanumeric set (a URI of scheme ``mirrorkit``, uppercase as alphanumeric mode demands).
A P-384 key and a short name fit a version-10 code at level M. The QR code carries the key; the
printed fingerprint is what a person compares with the one `trust add` shows and with one heard or
seen elsewhere: the card proves nothing by itself.
"""

from __future__ import annotations

import base64
import html
import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from PIL import Image, ImageDraw, ImageFont

from mirrorkit.errors import KeyFileError, QRError, UsageError
from mirrorkit.qr import base45, render

PREFIX = "MIRRORKIT:KEY:1:"
_ANY_VERSION = "MIRRORKIT:KEY:"
CARD_SUFFIXES = (".png", ".svg", ".html")
MAX_NAME = 200  # the trust store's limit


@dataclass
class CardKey:
    """A key read from (or written to) a card."""

    name: str
    public_key_der: bytes
    fingerprint: str


def card_text(name: str, spki_der: bytes) -> str:
    """The QR text for a card; raises `UsageError` for an empty or overlong name."""
    name = name.strip()
    if not name or len(name) > MAX_NAME:
        raise UsageError(f"a key card needs a name of 1 to {MAX_NAME} characters")
    if len(spki_der) > 255:
        raise QRError("this public key is too long for a mirrorkit key card")
    return PREFIX + base45.encode(bytes([len(spki_der)]) + spki_der + name.encode("utf-8"))


def parse_card_text(text: str) -> CardKey:
    """Read a card's QR text back into a checked key; raises `QRError` or `KeyFileError`."""
    from mirrorkit.trust.signing import parse_public_key

    if not text.upper().startswith(_ANY_VERSION):
        raise QRError("this QR code is not a mirrorkit key card")
    if not text.startswith(PREFIX):
        raise QRError("this key card is in a newer format than this mirrorkit understands")
    raw = base45.decode(text[len(PREFIX) :])
    n = raw[0] if raw else 0
    if not raw or len(raw) < 1 + n + 1:
        raise QRError("this key card's QR code is incomplete")
    spki, name_raw = raw[1 : 1 + n], raw[1 + n :]
    try:
        name = name_raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise QRError("this key card's name is not valid UTF-8") from None
    # Reuse the .pub parser: it checks the key is a sound P-384 key and computes the fingerprint.
    record = {"format": "mirrorkit-public-key-1", "name": name,
              "publicKey": base64.b64encode(spki).decode("ascii")}
    pub = parse_public_key(json.dumps(record).encode("utf-8"), "the key card")
    return CardKey(name=pub.name, public_key_der=pub.public_key_der, fingerprint=pub.fingerprint)


def read_card(path: Path) -> CardKey:
    """Find and parse the key card QR code in an image or photo; raises `QRError`, `UsageError`."""
    from mirrorkit.qr.decode import read_texts

    if not path.is_file():
        raise UsageError(f"no such file: {path}")
    texts = [t for t in read_texts(path) if t.upper().startswith(_ANY_VERSION)]
    if not texts:
        raise QRError(
            f"no mirrorkit key card found in {path}",
            hint="photograph the card flat, in good light, with the whole QR code in the picture",
        )
    keys = {parse_card_text(t).fingerprint: parse_card_text(t) for t in texts}
    if len(keys) > 1:
        raise QRError(f"{path} shows {len(keys)} different key cards: photograph one at a time")
    return next(iter(keys.values()))


def load_card_key(
    key_path: Optional[Path], pub_path: Optional[Path], passphrase: Callable[[], Optional[str]]
) -> CardKey:
    """The public half of a private key file or a `.pub` file; raises `KeyFileError`, `UsageError`.

    `passphrase` is called only when the private key file is encrypted.
    """
    from mirrorkit.trust import signing

    if (key_path is None) == (pub_path is None):
        raise UsageError("give exactly one of --key PRIVATE_KEY or --pub FILE.pub")
    if pub_path is not None:
        pub = signing.read_public_key(pub_path)
        return CardKey(pub.name, pub.public_key_der, pub.fingerprint)
    assert key_path is not None
    try:
        key = signing.load_private_key(key_path, None)
    except KeyFileError as err:
        if "passphrase" not in err.message:
            raise
        key = signing.load_private_key(key_path, passphrase())
    return CardKey(key.name, key.public_key_der, key.fingerprint)


def fingerprint_lines(fpr: str) -> list[str]:
    """The 16 groups of a fingerprint as two lines of eight (never raises)."""
    groups = fpr.split()
    return [" ".join(groups[:8]), " ".join(groups[8:])] if len(groups) > 8 else [fpr]


# --- fonts ---------------------------------------------------------------------------------------

_PREFERRED = ("Noto Sans CJK", "Source Han Sans", "WenQuanYi", "Droid Sans Fallback", "DejaVu Sans")


def _fc_fonts(text: str, mono: bool) -> list[str]:
    """Font files covering every character of `text`, best first, via fontconfig when present."""
    if shutil.which("fc-list") is None:
        return []
    chars = " ".join(f"{ord(c):x}" for c in sorted(set(text)) if not c.isspace())
    pattern = f":charset={chars}" + (":spacing=mono" if mono else "")
    try:
        out = subprocess.run(["fc-list", pattern, "--format", "%{file}\t%{style}\t%{family}\n"],
                             capture_output=True, text=True, timeout=10, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return []

    def rank(line: str) -> tuple[int, int, str]:
        file, style, family = (line.split("\t") + ["", ""])[:3]
        plain = 0 if any(s in style for s in ("Regular", "Book")) else 1
        pref = next((i for i, p in enumerate(_PREFERRED) if p in family), len(_PREFERRED))
        return (plain, pref, file)

    lines = [ln for ln in out.splitlines() if ln.strip()]
    return [ln.split("\t")[0] for ln in sorted(lines, key=rank)]


def _font(
    text: str, size: int, mono: bool = False
) -> tuple[ImageFont.FreeTypeFont | ImageFont.ImageFont, bool]:
    """(font, covers_all_characters): falls back to Pillow's built-in font when nothing fits."""
    for file in _fc_fonts(text, mono):
        try:
            return ImageFont.truetype(file, size), True
        except OSError:
            continue
    for file in ("DejaVuSansMono.ttf" if mono else "DejaVuSans.ttf", "Arial.ttf", "arial.ttf"):
        try:
            return ImageFont.truetype(file, size), text.isascii()
        except OSError:
            continue
    return ImageFont.load_default(size), text.isascii()


def _fit(
    draw: ImageDraw.ImageDraw, text: str, size: int, width: int
) -> tuple[ImageFont.FreeTypeFont | ImageFont.ImageFont, bool]:
    font, covered = _font(text, size)
    while size > 14 and draw.textlength(text, font=font) > width:
        size -= 2
        font, covered = _font(text, size)
    return font, covered


# --- writers -------------------------------------------------------------------------------------

def reader_lines() -> list[str]:
    """The genuine READER.html's SHA-256 as printed on cards: a label and two halves of 32 hex
    digits (a reader file brings its own verifier, so people compare this). [] if not shipped."""
    from mirrorkit import __version__
    from mirrorkit.errors import MirrorkitError
    from mirrorkit.reader import reader_sha256

    try:
        sha = reader_sha256()
    except MirrorkitError:
        return []
    return [f"READER.html (mirrorkit {__version__}) SHA-256:", sha[:32], sha[32:]]


def qr_canvas(text: str, width: int, min_box: int, below: int, heading: str,
              heading_size: int) -> tuple[Image.Image, ImageDraw.ImageDraw, int, bool]:
    """A white card: `text` as a QR code (level M) at the top, `heading` centred under it, and
    `below` pixels of room for more lines. Returns the image, its drawing context, the y under
    the heading's top, and whether the font covers the heading; raises `QRError`."""
    mat = render.matrix(text, "M")
    margin = 40
    box = max(min_box, (width - 2 * margin) // len(mat))
    qr = render.to_image(mat, box).convert("L")
    img = Image.new("L", (width, margin + qr.height + below), 255)
    img.paste(qr, ((width - qr.width) // 2, margin))
    draw = ImageDraw.Draw(img)
    y = margin + qr.height + 10
    font, covered = _fit(draw, heading, heading_size, width - 2 * margin)
    draw.text((width // 2, y), heading, font=font, fill=0, anchor="mt")
    return img, draw, y, covered


def draw_fingerprint(draw: ImageDraw.ImageDraw, width: int, y: int, label: str,
                     fingerprint: str, line_height: int) -> int:
    """`label`, then the fingerprint in monospace groups, centred; returns the y under them."""
    label_font, _ = _font(label, 24)
    draw.text((width // 2, y), label, font=label_font, fill=0, anchor="mt")
    y += 40
    mono, _ = _font("0123456789ABCDEF", 32, mono=True)
    for line in fingerprint_lines(fingerprint):
        draw.text((width // 2, y), line, font=mono, fill=0, anchor="mt")
        y += line_height
    return y


def card_png(key: CardKey) -> tuple[bytes, list[str]]:
    """The card as PNG bytes, and warnings (e.g. no font for the name); raises `QRError`."""
    reader = reader_lines()
    width = 900
    img, draw, y, covered = qr_canvas(card_text(key.name, key.public_key_der), width, 4,
                                      330 + (40 + 30 * len(reader) if reader else 0),
                                      key.name, 52)
    y = draw_fingerprint(draw, width, y + 80, "Fingerprint (SHA-256 of the public key)",
                         key.fingerprint, 50) + 20
    small, _ = _font("x", 20)
    draw.text((width // 2, y), "mirrorkit publisher key · add it with: mirrorkit trust add "
              "PHOTO.jpg", font=small, fill=0, anchor="mt")
    draw.text((width // 2, y + 30), "Compare the fingerprint with one you got another way "
              "before you trust it.", font=small, fill=0, anchor="mt")
    y += 80
    small_mono, _ = _font("0123456789abcdef", 20, mono=True)
    for i, line in enumerate(reader):
        draw.text((width // 2, y), line, font=small if i == 0 else small_mono, fill=0, anchor="mt")
        y += 30
    warnings = [] if covered else [
        f"no installed font can draw the name {key.name!r}: the printed name may show boxes "
        "(install fonts-noto-cjk, or use the .html or .svg card); the QR code holds it intact"
    ]
    return render.png_bytes(img), warnings


def card_svg(key: CardKey) -> str:
    """The card as a standalone SVG, text drawn by the viewer's fonts; raises `QRError`."""
    mat = render.matrix(card_text(key.name, key.public_key_der), "M")
    n = len(mat)
    qr = render.svg(mat, size=str(n * 6)).replace("<svg ", '<svg x="30" y="30" ', 1)
    width, qr_px = n * 6 + 60, n * 6
    lines = fingerprint_lines(key.fingerprint)
    text_y = 30 + qr_px + 50
    font = "'Noto Sans CJK SC','Noto Sans',Arial,sans-serif"
    parts = [
        f'<text x="{width // 2}" y="{text_y}" font-size="34" text-anchor="middle" '
        f'font-family="{font}">{html.escape(key.name)}</text>',
        f'<text x="{width // 2}" y="{text_y + 40}" font-size="16" text-anchor="middle" '
        f'font-family="{font}">Fingerprint (SHA-256 of the public key)</text>',
    ]
    for i, line in enumerate(lines):
        parts.append(f'<text x="{width // 2}" y="{text_y + 75 + i * 32}" font-size="24" '
                     f'text-anchor="middle" font-family="monospace">{line}</text>')
    y = text_y + 75 + len(lines) * 32 + 10
    for i, line in enumerate(reader_lines()):
        family = font if i == 0 else "monospace"
        parts.append(f'<text x="{width // 2}" y="{y}" font-size="13" text-anchor="middle" '
                     f'font-family="{family}">{html.escape(line)}</text>')
        y += 20
    height = y + 10
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}"><rect width="100%" height="100%" fill="#fff"/>'
        f'{qr}{"".join(parts)}</svg>\n'
    )


def card_html(key: CardKey) -> str:
    """The card as a printable HTML page (A6-sized card, no external resources)."""
    mat = render.matrix(card_text(key.name, key.public_key_der), "M")
    lines = "<br>".join(fingerprint_lines(key.fingerprint))
    reader = reader_lines()
    reader_html = (f"<div class=s>{html.escape(reader[0])}<br><code>{reader[1]}<br>{reader[2]}"
                   "</code></div>") if reader else ""
    return (
        "<!doctype html><html><head><meta charset=utf-8>"
        f"<title>{html.escape(key.name)} — mirrorkit key card</title><style>"
        "@page{size:A6;margin:8mm}body{font-family:'Noto Sans CJK SC','Noto Sans',sans-serif;"
        "text-align:center;margin:0}.qr{width:80mm;height:80mm;margin:0 auto}"
        ".n{font-size:18pt;margin:3mm 0}.f{font-family:monospace;font-size:12pt}"
        ".s{font-size:8pt;margin-top:3mm}</style></head><body>"
        f"<div class=qr>{render.svg(mat)}</div><div class=n>{html.escape(key.name)}</div>"
        f"<div class=s>Fingerprint (SHA-256 of the public key)</div><div class=f>{lines}</div>"
        "<div class=s>mirrorkit publisher key · add it with <code>mirrorkit trust add "
        "PHOTO.jpg</code><br>Compare the fingerprint with one you got another way before you "
        "trust it.</div>" + reader_html + "</body></html>\n"
    )


def write_card(key: CardKey, out: Path) -> list[str]:
    """Write the card as PNG, SVG or HTML by `out`'s suffix; returns warnings; raises UsageError."""
    suffix = out.suffix.lower()
    if suffix not in CARD_SUFFIXES:
        raise UsageError(
            f"a key card is written as .png, .svg or .html, not {out.suffix or out.name}"
        )
    if not out.parent.is_dir():
        raise UsageError(f"cannot write {out}: the folder {out.parent} does not exist")
    warnings: list[str] = []
    if suffix == ".png":
        data, warnings = card_png(key)
    else:
        data = (card_svg(key) if suffix == ".svg" else card_html(key)).encode("utf-8")
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(out)
    return warnings
