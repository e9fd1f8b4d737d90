"""Fills the kit's bilingual instructions (`texts/`) with each bundle's publisher, title and
fingerprint. English and Simplified Chinese live side by side in each file."""

from __future__ import annotations

import html
import unicodedata
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING, Dict, List, Sequence

from mirrorkit.formats.safetext import neutral

if TYPE_CHECKING:
    from mirrorkit.kit.build import KitBundle

TEXTS_DIR = Path(__file__).resolve().parent / "texts"

_LABELS: Dict[str, Dict[str, str]] = {
    "en": {"file": "File", "title": "Title", "publisher": "Publisher",
           "fingerprint": "Fingerprint", "collection": "Collection", "pages": "Pages",
           "created": "Signed", "edition": "edition", "needs": "Needs",
           "needs_note": "an update: it needs the earlier file, keep them together"},
    "zh": {"file": "文件", "title": "标题", "publisher": "发布者", "fingerprint": "指纹",
           "collection": "合集", "pages": "页数", "created": "签名时间", "edition": "第 {} 版",
           "needs": "需要", "needs_note": "这是更新文件：它需要较早的文件，请放在一起"},
}


def _rows(bundle: KitBundle, lang: str) -> List[tuple]:
    """(label, value) rows; every value from a bundle is `neutral()`: README.txt is read in
    terminals (`cat`, `type`) and START-HERE.html in browsers, where escape sequences and bidi
    overrides would disguise a name or a fingerprint."""
    return [(label, neutral(value)) for label, value in _raw_rows(bundle, lang)]


def _raw_rows(bundle: KitBundle, lang: str) -> List[tuple]:
    labels = _LABELS[lang]
    rows = [(labels["file"], bundle.file), (labels["title"], bundle.title),
            (labels["publisher"], bundle.publisher), (labels["fingerprint"], bundle.fingerprint)]
    if bundle.collection:
        edition = ""
        if bundle.sequence is not None:
            edition = (f", {labels['edition']} {bundle.sequence}" if lang == "en"
                       else f"，{labels['edition'].format(bundle.sequence)}")
        rows.append((labels["collection"], bundle.collection + edition))
    rows.append((labels["pages"], str(bundle.pages)))
    if bundle.needs:  # update files need the earlier file (issue 15)
        rows.append((labels["needs"], ", ".join(bundle.needs) + f" ({labels['needs_note']})"))
    if bundle.created:
        rows.append((labels["created"], bundle.created))
    return rows


def _width(text: str) -> int:
    """Columns a monospace terminal gives `text`: CJK characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _text_block(bundles: Sequence[KitBundle], lang: str) -> str:
    colon = ":" if lang == "en" else "："
    blocks = []
    for bundle in bundles:
        rows = _rows(bundle, lang)
        width = max(_width(label + colon) for label, _ in rows) + 1
        blocks.append("\n".join(
            f"  {label}{colon}{' ' * (width - _width(label + colon))}{value}"
            for label, value in rows))
    return "\n\n".join(blocks)


def _html_block(bundles: Sequence[KitBundle], lang: str) -> str:
    fp_label = _LABELS[lang]["fingerprint"]
    out = []
    for bundle in bundles:
        items = []
        for label, value in _rows(bundle, lang):
            cell = html.escape(value)
            if label == fp_label:
                cell = f'<span class="fp">{cell}</span>'
            items.append(f"<dt>{html.escape(label)}</dt><dd>{cell}</dd>")
        out.append('<dl class="bundle">' + "".join(items) + "</dl>")
    return "\n".join(out)


def render_texts(folder: Path, bundles: Sequence[KitBundle], reader_sha256: str = "") -> List[str]:
    """Write START-HERE.html and README.txt into `folder`; returns their names. Raises OSError.

    `reader_sha256` is the SHA-256 of the kit's READER.html, printed in both guides."""
    page = Template((TEXTS_DIR / "START-HERE.html").read_text(encoding="utf-8"))
    (folder / "START-HERE.html").write_text(
        page.substitute(bundles_en=_html_block(bundles, "en"),
                        bundles_zh=_html_block(bundles, "zh"),
                        reader_sha256=html.escape(reader_sha256)),
        encoding="utf-8", newline="\n")
    readme = Template((TEXTS_DIR / "README.txt").read_text(encoding="utf-8"))
    text = readme.substitute(bundles_en=_text_block(bundles, "en"),
                             bundles_zh=_text_block(bundles, "zh"), reader_sha256=reader_sha256)
    # A byte-order mark and CRLF line ends: older Windows Notepad (still common) then shows the
    # Chinese half correctly instead of reading the file as the local code page.
    (folder / "README.txt").write_text("\ufeff" + text, encoding="utf-8", newline="\r\n")
    return ["START-HERE.html", "README.txt"]
