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
import zlib
from array import array
from typing import Any, Dict, Iterable, List, Optional, Sequence, Set

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


class Page:
    """One entry of pages.jsonl, kept small: a bundle may list 100,000 pages.

    Long texts are held zlib-compressed; ``get()`` and ``[]`` read it like the JSON dict.
    """

    __slots__ = ("url", "ts", "ts14", "title", "_text", "snippet")

    def __init__(self, url: str, ts: str, ts14: str, title: str, text: str = "") -> None:
        self.url = url
        self.ts = ts
        self.ts14 = ts14
        self.title = title
        raw = text.encode("utf-8")
        self._text: Any = zlib.compress(raw, 6) if len(raw) > 256 else text
        self.snippet = ""

    @property
    def text(self) -> str:
        """The page's full text ('' when pages.jsonl has none)."""
        if isinstance(self._text, bytes):
            return zlib.decompress(self._text).decode("utf-8")
        return str(self._text)

    def get(self, key: str, default: Any = None) -> Any:
        """Dict-style access to url, ts, ts14, title, text and snippet."""
        value = getattr(self, key, None)
        return default if value is None else value

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)

    def with_snippet(self, snippet: str) -> Page:
        """A copy carrying a search snippet."""
        copy = Page(self.url, self.ts, self.ts14, self.title)
        copy._text = self._text
        copy.snippet = snippet
        return copy


class SearchIndex:
    """An inverted index over pages (`Page` or dicts with ``title``/``text``); thread-safe.

    Postings are compact arrays of page numbers, so 100,000 pages stay in tens of megabytes.
    """

    def __init__(self, pages: Sequence[Any]) -> None:
        self._pages = pages
        self._lock = threading.Lock()
        self._title: Optional[Dict[str, array]] = None
        self._body: Optional[Dict[str, array]] = None

    def _build(self) -> None:
        with self._lock:
            if self._body is not None:
                return
            title: Dict[str, array] = {}
            body: Dict[str, array] = {}
            for i, page in enumerate(self._pages):
                in_title = tokens(str(page.get("title") or ""))
                for tok in in_title:
                    title.setdefault(tok, array("I")).append(i)
                text = str(page.get("text") or "") + " " + str(page.get("url") or "")
                for tok in tokens(text) | in_title:
                    body.setdefault(tok, array("I")).append(i)
            self._title, self._body = title, body

    @staticmethod
    def _all(index: Dict[str, array], toks: Iterable[str]) -> Set[int]:
        postings = [index.get(tok) for tok in set(toks)]
        if not postings or any(p is None for p in postings):
            return set()
        postings.sort(key=len)  # type: ignore[arg-type]
        result = set(postings[0])  # type: ignore[arg-type]
        for p in postings[1:]:
            result.intersection_update(p)  # type: ignore[arg-type]
            if not result:
                break
        return result

    def search(self, query: str, limit: int = 200) -> List[Any]:
        """Pages matching every token of ``query``, title matches first; [] for an empty query.

        Each result is a copy of the indexed entry (a `Page`, or a dict) with its ``snippet`` set.
        """
        toks = query_tokens(query)
        if not toks:
            return []
        self._build()
        assert self._title is not None and self._body is not None
        in_title = self._all(self._title, toks)
        in_body = self._all(self._body, toks) - in_title
        order = sorted(in_title) + sorted(in_body)
        out: List[Any] = []
        for i in order[:limit]:
            page = self._pages[i]
            if isinstance(page, Page):
                out.append(page.with_snippet(snippet(page, query)))
            else:
                out.append(dict(page, snippet=snippet(page, query)))
        return out


def snippet(page: Any, query: str, width: int = 80) -> str:
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
