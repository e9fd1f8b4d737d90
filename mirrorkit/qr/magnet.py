"""Magnet cards: a bundle's magnet link as a printable QR code, with what it fetches.

Under the code: the bundle's title, size, publisher and key fingerprint, in English and
Simplified Chinese. Those facts come from verifying the bundle itself (never from the torrent,
which anyone can write), and the torrent is checked to describe exactly that file. A recipient
scans the code with any BitTorrent app, or gives the text to `mirrorkit torrent get`; then
compares the fingerprint on the card with the one `get` prints. The drawing reuses the trust
card's fonts and layout helpers.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional

from mirrorkit.errors import UsageError
from mirrorkit.qr import render
from mirrorkit.qr.card import _fit, draw_fingerprint, fingerprint_lines, qr_canvas

MAGNET_SUFFIXES = (".png", ".html")


@dataclass
class MagnetCard:
    """What a magnet card shows."""

    magnet: str
    name: str
    title: str
    size: int
    publisher: str
    fingerprint: str
    trusted: bool

    def to_json(self) -> Dict[str, Any]:
        """JSON-ready facts (for `--json`)."""
        return dict(self.__dict__)


def _size(n: int) -> str:
    """Human size, e.g. '110,741 bytes (0.1 MB)'.

    >>> _size(110741)
    '110,741 bytes (0.1 MB)'
    """
    return f"{n:,} bytes ({n / 1e6:.1f} MB)"


def magnet_card(torrent: Path, bundle: Optional[Path] = None,
                fingerprint: Optional[str] = None) -> MagnetCard:
    """The card for `torrent`, whose bundle is `bundle` (default: the torrent's name without
    `.torrent`, beside it). Verifies the bundle and checks the torrent describes it.

    Raises `UsageError` (missing files), `VerificationFailed`, `TorrentError`.
    """
    from mirrorkit.torrent import TorrentError, load_libtorrent
    from mirrorkit.torrent.meta import torrent_matches_file
    from mirrorkit.verify import verify_bundle

    lt = load_libtorrent()
    if not torrent.is_file():
        raise UsageError(f"no such torrent: {torrent}")
    if bundle is None:
        if not torrent.name.endswith(".torrent"):
            raise UsageError(f"{torrent} does not end in .torrent: name its bundle with --bundle")
        bundle = torrent.with_name(torrent.name[:-len(".torrent")])
    if not bundle.is_file():
        raise UsageError(f"the card's facts come from the bundle, and {bundle} is not there",
                         hint="give it with --bundle PATH")
    data = torrent.read_bytes()
    problem = torrent_matches_file(data, bundle)
    if problem:
        raise TorrentError(f"{torrent} does not describe {bundle}: {problem}",
                           hint=f"make it again: mirrorkit torrent make {bundle}")
    report = verify_bundle(bundle, fingerprint=fingerprint, remember=False)
    magnet = lt.make_magnet_uri(lt.torrent_info(data))
    return MagnetCard(
        magnet=magnet, name=bundle.name,
        title=str(report.bundle.get("title") or bundle.name), size=bundle.stat().st_size,
        publisher=str(report.bundle.get("publisher") or "not named in the bundle"),
        fingerprint=str(report.fingerprint), trusted=bool(report.trusted))


def _lines(card: MagnetCard) -> List[tuple[str, str]]:
    return [("Bundle / 文件包", card.name), ("Size / 大小", _size(card.size)),
            ("Publisher / 发布者", card.publisher)]


_FOOTER = [
    "Scan with a BitTorrent app, or: mirrorkit torrent get \"MAGNET\" -o DIR",
    "用 BitTorrent 应用扫描，或运行：mirrorkit torrent get \"磁力链接\" -o 目录",
    "Trust comes from the signature: compare the fingerprint with the publisher's card.",
    "可信度来自签名：请将指纹与发布者的名片核对。",
]


def card_png(card: MagnetCard) -> tuple[bytes, List[str]]:
    """The card as PNG bytes, and warnings (no font for some text); raises `QRError`."""
    width, margin = 1000, 40
    img, draw, y, covered = qr_canvas(card.magnet, width, 3, 560, card.title, 48)
    y += 70
    missing = [] if covered else [card.title]
    for label, value in _lines(card):
        text = f"{label}: {value}"
        font, ok = _fit(draw, text, 26, width - 2 * margin)
        missing += [] if ok else [text]
        draw.text((width // 2, y), text, font=font, fill=0, anchor="mt")
        y += 40
    y = draw_fingerprint(draw, width, y + 5, "Fingerprint / 指纹 (SHA-256)", card.fingerprint,
                         48) + 15
    for line in _FOOTER:
        font, ok = _fit(draw, line, 20, width - 2 * margin)
        missing += [] if ok else [line]
        draw.text((width // 2, y), line, font=font, fill=0, anchor="mt")
        y += 32
    img = img.crop((0, 0, width, y + margin))
    warnings = [f"no installed font can draw {text!r}: it may show boxes (install "
                "fonts-noto-cjk, or write an .html card); the QR code is intact"
                for text in missing[:1]]
    return render.png_bytes(img), warnings


def card_html(card: MagnetCard) -> str:
    """The card as a printable HTML page (A6, no external resources)."""
    mat = render.matrix(card.magnet, "M")
    rows = "".join(f"<div>{html.escape(label)}: {html.escape(value)}</div>"
                   for label, value in _lines(card))
    footer = "<br>".join(html.escape(line) for line in _FOOTER)
    return (
        "<!doctype html><html><head><meta charset=utf-8>"
        f"<title>{html.escape(card.title)} — magnet card</title><style>"
        "@page{size:A6;margin:8mm}body{font-family:'Noto Sans CJK SC','Noto Sans',sans-serif;"
        "text-align:center;margin:0}.qr{width:80mm;height:80mm;margin:0 auto}"
        ".t{font-size:16pt;margin:2mm 0}.f{font-family:monospace;font-size:11pt}"
        ".s{font-size:7pt;margin-top:2mm}.m{font-size:6pt;word-break:break-all}</style></head>"
        f"<body><div class=qr>{render.svg(mat)}</div><div class=t>{html.escape(card.title)}"
        f"</div>{rows}<div class=s>Fingerprint / 指纹 (SHA-256)</div><div class=f>"
        f"{'<br>'.join(fingerprint_lines(card.fingerprint))}</div><div class=s>{footer}</div>"
        f"<div class=m>{html.escape(card.magnet)}</div></body></html>\n"
    )


def write_magnet_card(card: MagnetCard, out: Path) -> List[str]:
    """Write the card as PNG or HTML by `out`'s suffix; returns warnings; raises UsageError."""
    suffix = out.suffix.lower()
    if suffix not in MAGNET_SUFFIXES:
        raise UsageError(f"a magnet card is written as .png or .html, not {out.suffix or out.name}")
    if not out.parent.is_dir():
        raise UsageError(f"cannot write {out}: the folder {out.parent} does not exist")
    warnings: List[str] = []
    if suffix == ".png":
        data, warnings = card_png(card)
    else:
        data = card_html(card).encode("utf-8")
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(out)
    return warnings
