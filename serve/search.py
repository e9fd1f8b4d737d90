"""Full-text search over a bundle's pages (titles and text from ``pages/pages.jsonl``).

Words in alphabetic scripts are lowercased tokens; Chinese, Japanese and Korean text has no
spaces, so it is indexed as overlapping character pairs (bigrams) plus single characters, which
finds any word of two or more characters without a dictionary. A query matches a page when every
one of its tokens occurs in the page; title matches rank first. The index is built on the first
search, not at start-up.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from typing import Dict, Iterable, List, Optional, Sequence, Set

_CJK = (
    r"\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
    r"\U00020000-\U0002ffff"
)
_RUN = re.compile(r"([" + _CJK + r"]+)|([^\W_" + _CJK + r"]+)", re.UNICODE)


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def tokens(text: str) -> Set[str]:
    """The search tokens of ``text``: lowercased words, CJK characters and CJK bigrams.

    >>> sorted(tokens("Clean water 清水"))
    ['clean', 'water', '水', '清', '清水']
    """
    out: Set[str] = set()
    for m in _RUN.finditer(_fold(text)):
        cjk, word = m.group(1), m.group(2)
        if word:
            out.add(word)
        else:
            out.update(cjk)
            out.update(cjk[i:i + 2] for i in range(len(cjk) - 1))
    return out


def query_tokens(query: str) -> List[str]:
    """Tokens a page must all contain to match ``query`` (CJK runs become their bigrams)."""
    out: List[str] = []
    for m in _RUN.finditer(_fold(query)):
        cjk, word = m.group(1), m.group(2)
        if word:
            out.append(word)
        elif len(cjk) == 1:
            out.append(cjk)
        else:
            out.extend(cjk[i:i + 2] for i in range(len(cjk) - 1))
    return out


class SearchIndex:
    """An inverted index over page dicts with ``title`` and ``text``; thread-safe."""

    def __init__(self, pages: Sequence[dict]) -> None:
        self._pages = pages
        self._lock = threading.Lock()
        self._title: Optional[Dict[str, Set[int]]] = None
        self._body: Optional[Dict[str, Set[int]]] = None

    def _build(self) -> None:
        with self._lock:
            if self._body is not None:
                return
            title: Dict[str, Set[int]] = {}
            body: Dict[str, Set[int]] = {}
            for i, page in enumerate(self._pages):
                for tok in tokens(str(page.get("title") or "")):
                    title.setdefault(tok, set()).add(i)
                    body.setdefault(tok, set()).add(i)
                text = str(page.get("text") or "") + " " + str(page.get("url") or "")
                for tok in tokens(text):
                    body.setdefault(tok, set()).add(i)
            self._title, self._body = title, body

    @staticmethod
    def _all(index: Dict[str, Set[int]], toks: Iterable[str]) -> Set[int]:
        result: Optional[Set[int]] = None
        for tok in toks:
            hits = index.get(tok, set())
            result = set(hits) if result is None else result & hits
            if not result:
                return set()
        return result or set()

    def search(self, query: str, limit: int = 200) -> List[dict]:
        """Pages matching every token of ``query``, title matches first; [] for an empty query."""
        toks = query_tokens(query)
        if not toks:
            return []
        self._build()
        assert self._title is not None and self._body is not None
        in_title = self._all(self._title, toks)
        in_body = self._all(self._body, toks) - in_title
        order = sorted(in_title) + sorted(in_body)
        return [dict(self._pages[i], snippet=snippet(self._pages[i], query)) for i in order[:limit]]


def snippet(page: dict, query: str, width: int = 80) -> str:
    """A short piece of the page's text around the first place the query (or a token) occurs."""
    text = " ".join(str(page.get("text") or "").split())
    if not text:
        return ""
    folded = _fold(text)
    pos = folded.find(_fold(query.strip()))
    if pos < 0:
        for tok in query_tokens(query):
            pos = folded.find(tok)
            if pos >= 0:
                break
    if pos < 0:
        return text[:width * 2]
    start = max(0, pos - width)
    tail = "…" if pos + width < len(text) else ""
    return ("…" if start else "") + text[start:pos + width] + tail
