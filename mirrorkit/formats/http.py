"""HTTP facts replay and bundling share: valid header names, content decoding, revisit headers.

Pure functions, Python 3.9-safe, shipped in the USB kit. Decoders that are compiled extensions
(brotli, zstandard) are imported only when a body needs them: the kit's zipapp carries none, and
there `decode_body` raises `DecoderMissing` so the caller can pass the encoded body through to
the browser (which decodes brotli and zstd itself) or say "cannot be decoded here".

>>> valid_header_name("X-Content-Type-Options"), valid_header_name("X-Content Type Options")
(True, False)
>>> decode_body(b"plain", "identity")
b'plain'
"""

from __future__ import annotations

import re
import zlib
from typing import Any, List, Optional, Sequence, Tuple

from mirrorkit.errors import MirrorkitError

__all__ = [
    "NON_HTTP_SCHEMES", "DecoderMissing", "UndecodableBody", "can_decode", "decode_body",
    "encodings", "replay_status",
    "revisit_headers", "valid_header_name", "valid_header_value",
]

# URI schemes of records that are not HTTP exchanges but are replayed as stored (screenshots,
# crawl logs, provenance pages): Scoop's file:///, wpull's urn:X-wpull:log, metadata:// ...
NON_HTTP_SCHEMES = ("file:", "urn:", "metadata:", "dns:", "ftp:", "whois:")
# RFC 9110 token: the only characters a field name may hold.
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
# A field value: visible ASCII, obs-text, space and tab; never CR, LF or NUL.
_BAD_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
# Bodies are decoded whole in memory by callers that have read them whole: bound the output so a
# decompression bomb in a hostile record costs nothing.
MAX_DECODED = 256 * 1024 * 1024
# Entity headers that describe the stored payload bytes rather than the exchange.
_PAYLOAD_HEADERS = ("content-encoding",)


class UndecodableBody(MirrorkitError):
    """A body's Content-Encoding cannot be undone: corrupt, unknown, or no decoder here."""


class DecoderMissing(UndecodableBody):
    """The body is in an encoding this Python has no decoder for (e.g. brotli in the USB kit)."""


class BodyTooLarge(UndecodableBody):
    """The body unpacks to more than the caller's limit (a decompression bomb, or too big)."""


def valid_header_name(name: str) -> bool:
    """True when `name` is an HTTP token (RFC 9110), the only names safe to send on."""
    return bool(name) and _TOKEN.match(name) is not None


def replay_status(code: object) -> int:
    """The HTTP status to replay for a stored status line's code: the code itself when it is a
    final status a browser accepts (200-599), else 200 (a `999`, `0`, `abc` or a 1xx interim
    response written by some tool must not become a response no client can read).

    >>> replay_status("404"), replay_status("999"), replay_status("abc"), replay_status(101)
    (404, 200, 200, 200)
    """
    text = str(code).strip()
    if not text.isdigit() or len(text) != 3:
        return 200
    value = int(text)
    return value if 200 <= value <= 599 else 200


def valid_header_value(value: str) -> bool:
    """True when `value` holds no control characters (CR, LF, NUL ...) that split a response."""
    return _BAD_VALUE.search(value) is None


def encodings(content_encoding: Optional[str]) -> List[str]:
    """The codings of a Content-Encoding header in the order they were applied, lowercased,
    without `identity` (``"gzip, br"`` -> ``['gzip', 'br']``)."""
    out = []
    for part in (content_encoding or "").split(","):
        coding = part.strip().lower()
        if coding and coding != "identity":
            out.append(coding)
    return out


def _brotli() -> object:
    # Google's `brotli`, `brotlicffi` and the old `brotlipy` (module `brotli`) all offer
    # decompress(); only the first is required, the others are accepted when they are what
    # is installed.
    try:
        import brotli

        return brotli
    except ImportError:
        pass
    try:
        import brotlicffi

        return brotlicffi
    except ImportError:
        raise DecoderMissing("this body is brotli-compressed and no brotli decoder is "
                             "installed here") from None


def _zstd_decompress(data: bytes, limit: int) -> bytes:
    try:
        from compression import zstd  # novermin (Python 3.14+; ImportError before)

        return bytes(zstd.decompress(data))
    except ImportError:
        pass
    try:
        import zstandard
    except ImportError:
        raise DecoderMissing("this body is zstd-compressed and no zstd decoder is installed "
                             "here") from None
    import io

    # Streamed and bounded: a zstd frame may not say how large it inflates.
    chunks, size = [], 0
    with zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data)) as reader:
        while size <= limit:
            chunk = reader.read(1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    return b"".join(chunks)


def _has_decoder(coding: str) -> bool:
    if coding in ("gzip", "x-gzip", "deflate"):
        return True
    try:
        if coding == "br":
            _brotli()
            return True
        if coding == "zstd":
            try:
                from compression import zstd  # noqa: F401  # novermin
            except ImportError:
                import zstandard  # noqa: F401
            return True
    except (ImportError, DecoderMissing):
        return False
    return False


def can_decode(content_encoding: Optional[str]) -> bool:
    """Whether every coding in `content_encoding` can be undone in this Python."""
    return all(_has_decoder(c) for c in encodings(content_encoding))


_STEP = 1024 * 1024  # inflate in steps of 1 MB of output: memory stays near the limit


def too_large(what: str, limit: int) -> BodyTooLarge:
    return BodyTooLarge(f"{what} unpacks to more than {limit // (1024 * 1024)} MB, more than "
                        "this reader handles (a decompression bomb, or a page too large to "
                        "show); it is not shown")


def inflate_bounded(data: bytes, limit: int, what: str, wbits: int = 16 + zlib.MAX_WBITS,
                    members: bool = True) -> bytes:
    """Inflate zlib/gzip `data` (every gzip member when `members`) to at most `limit` bytes.

    Raises BodyTooLarge past the limit and zlib.error on bad data. A truncated stream gives
    what could be inflated."""
    out: List[bytes] = []
    total = 0
    rest = data
    while rest:
        inflater = zlib.decompressobj(wbits)
        pending = rest
        while True:
            chunk = inflater.decompress(pending, min(_STEP, limit - total + 1))
            total += len(chunk)
            if total > limit:
                raise too_large(what, limit)
            out.append(chunk)
            pending = inflater.unconsumed_tail
            if inflater.eof or (not pending and not chunk):
                break
        rest = inflater.unused_data if inflater.eof and members else b""
        if rest[:2] != b"\x1f\x8b":
            break  # trailing garbage after the last member: ignored, as gzip(1) does
    return b"".join(out)


def _unbrotli_bounded(module: Any, data: bytes, limit: int, what: str) -> bytes:
    """Brotli has no output limit per call and can copy 16 MB for a few bits of input, so it is
    fed in slices that shrink to single bytes as soon as the output outgrows the input."""
    dec = module.Decompressor()
    out: List[bytes] = []
    total, pos, step = 0, 0, 64
    while pos < len(data):
        piece = dec.decompress(data[pos:pos + step])  # brotlicffi calls it process()
        pos += step
        total += len(piece)
        if total > limit:
            raise too_large(what, limit)
        out.append(piece)
        step = 1 if len(piece) > 64 * step else min(step * 2, 16384)
    return b"".join(out)


def _decode_one(data: bytes, coding: str, limit: int, what: str) -> bytes:
    if coding in ("gzip", "x-gzip"):
        try:
            return inflate_bounded(data, limit, what)
        except zlib.error as err:
            raise UndecodableBody(f"the gzip body does not decode: {err}") from None
    if coding == "deflate":
        # "deflate" is zlib-wrapped by the spec, raw deflate by many servers: accept both.
        try:
            return inflate_bounded(data, limit, what, zlib.MAX_WBITS, False)
        except zlib.error:
            try:
                return inflate_bounded(data, limit, what, -zlib.MAX_WBITS, False)
            except zlib.error as err:
                raise UndecodableBody(f"the deflate body does not decode: {err}") from None
    if coding == "br":
        module = _brotli()
        try:
            if hasattr(module, "Decompressor") and hasattr(module.Decompressor(), "decompress"):
                return _unbrotli_bounded(module, data, limit, what)
            out = bytes(module.decompress(data))  # type: ignore[attr-defined]
            if len(out) > limit:
                raise too_large(what, limit)
            return out
        except BodyTooLarge:
            raise
        except Exception as err:  # brotli.error, brotlicffi.Error: corrupt input
            raise UndecodableBody(f"the brotli body does not decode: {err}") from None
    if coding == "zstd":
        try:
            out = _zstd_decompress(data, limit)
            if len(out) > limit:
                raise too_large(what, limit)
            return out
        except (DecoderMissing, BodyTooLarge):
            raise
        except Exception as err:  # zstandard.ZstdError and friends
            raise UndecodableBody(f"the zstd body does not decode: {err}") from None
    raise DecoderMissing(f"unknown Content-Encoding {coding!r}")


def decode_body(body: bytes, content_encoding: Optional[str], limit: int = MAX_DECODED,
                what: str = "this body") -> bytes:
    """`body` with its Content-Encoding undone (codings applied in order are undone last first),
    at most `limit` bytes, inflated in bounded steps (a hostile body is a bomb until shown not).

    Raises DecoderMissing when a coding has no decoder here (brotli or zstd in the USB kit, an
    unknown coding), BodyTooLarge past `limit`, and UndecodableBody when the bytes are not what
    the header says.
    """
    if len(body) > limit:
        raise too_large(what, limit)
    for coding in reversed(encodings(content_encoding)):
        body = _decode_one(body, coding, limit, what)
    return body


def revisit_headers(own_status: int, own_headers: Sequence[Tuple[str, str]],
                    original_status: int, original_headers: Sequence[Tuple[str, str]],
                    ) -> Tuple[int, List[Tuple[str, str]]]:
    """Status and headers to replay for a revisit that has the original's payload.

    As pywb and wabac.js do: the revisit's own HTTP status and headers when it has them (a
    revisit that says 404 replays as 404), the original's when it has none or is a 304 (the
    server-not-modified profile, whose content is the original's). The payload is the
    original's, so the header saying how those bytes are encoded comes from the original.

    >>> revisit_headers(404, [("Content-Type", "text/html")], 200,
    ...                 [("Content-Type", "text/html"), ("Content-Encoding", "gzip")])
    (404, [('Content-Type', 'text/html'), ('Content-Encoding', 'gzip')])
    >>> revisit_headers(304, [("ETag", "x")], 200, [("Content-Type", "text/css")])
    (200, [('Content-Type', 'text/css')])
    """
    if not own_headers or own_status == 304:
        return original_status, list(original_headers)
    headers = [(k, v) for k, v in own_headers if k.lower() not in _PAYLOAD_HEADERS]
    headers += [(k, v) for k, v in original_headers if k.lower() in _PAYLOAD_HEADERS]
    return own_status, headers
