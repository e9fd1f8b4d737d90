"""One HTTP fetch, recorded exactly: the request bytes sent, the status line and headers received,
the body as sent (Content-Encoding kept), the peer's IP address and the payload digest.

requests does the HTTP; a small connection subclass records the bytes it writes to the socket, and
the body is read from `resp.raw` with `decode_content=False`. http.client removes chunked framing
(a transport detail); the header saying so is kept as `X-Archive-Orig-Transfer-Encoding`, the name
pywb and the Wayback Machine use, so readers don't try to de-chunk a body that is not chunked.
"""

from __future__ import annotations

import base64
import hashlib
import ssl
import tempfile
import threading
import time
import zlib
from dataclasses import dataclass, field
from typing import IO, Any, Dict, List, Optional, Tuple, Union
from urllib.parse import urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests.cookies import extract_cookies_to_jar
from requests.structures import CaseInsensitiveDict

from mirrorkit.capture.warcwriter import header_block
from mirrorkit.formats.warc import warc_date

CHUNK = 64 * 1024
PROXY_SCHEMES = ("http", "https", "socks5", "socks5h", "socks4", "socks4a")
RETRYABLE = {"connection", "timeout", "disconnect"}

try:
    import brotli as _brotli
except ImportError:  # pragma: no cover - brotli is a dependency, but stay usable without it
    _brotli = None
ACCEPT_ENCODING = "gzip, deflate, br" if _brotli else "gzip, deflate"


class FetchError(Exception):
    """A fetch that got no HTTP response: `kind` is dns, connection, tls, timeout, proxy, ..."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message

    @property
    def retryable(self) -> bool:
        """Whether trying again later may help."""
        return self.kind in RETRYABLE


@dataclass
class Response:
    """A recorded exchange. `body` holds the payload as sent (after de-chunking only)."""

    url: str
    date: str
    status: int
    head: bytes
    request_head: bytes
    body: IO[bytes]
    length: int
    payload_digest: str
    ip: Optional[str] = None
    truncated: Optional[str] = None
    headers: Dict[str, str] = field(default_factory=dict)
    block_digest: Optional[str] = None  # of the WARC record's block: head + body

    def header(self, name: str) -> str:
        """A response header's value ('' when absent), case-insensitive."""
        return self.headers.get(name.lower(), "")

    def decoded(self, limit: int = 50 * 1024 * 1024) -> bytes:
        """The body with its Content-Encoding undone (for link extraction only). Raises nothing."""
        self.body.seek(0)
        data = self.body.read(limit)
        self.body.seek(0)
        codings = [c.strip().lower() for c in self.header("content-encoding").split(",")]
        for coding in reversed(codings):
            try:
                if coding in ("gzip", "x-gzip"):
                    data = zlib.decompressobj(zlib.MAX_WBITS | 32).decompress(data, limit)
                elif coding == "deflate":
                    try:
                        data = zlib.decompressobj().decompress(data, limit)
                    except zlib.error:
                        data = zlib.decompressobj(-zlib.MAX_WBITS).decompress(data, limit)
                elif coding == "br" and _brotli is not None:
                    data = _unbrotli(data, limit)
            except Exception:  # a damaged body is still archived; it just yields no links
                return b""
        return data

    def close(self) -> None:
        """Free the spooled body."""
        self.body.close()


def _unbrotli(data: bytes, limit: int) -> bytes:
    # Fed in small slices so that a decompression bomb stops near `limit`.
    dec = _brotli.Decompressor()
    out: List[bytes] = []
    size = 0
    for start in range(0, len(data), 16384):
        piece = dec.decompress(data[start:start + 16384])
        out.append(piece)
        size += len(piece)
        if size >= limit:
            break
    return b"".join(out)[:limit]


# -- recording the bytes sent ---------------------------------------------------------------
class _Recorder:
    """Mixed into urllib3 connection classes: keeps the header bytes of the current request."""

    _mk_sent: bytearray

    def putrequest(self, *args: Any, **kwargs: Any) -> None:
        self._mk_sent = bytearray()
        super().putrequest(*args, **kwargs)  # type: ignore[misc]

    def send(self, data: Any) -> None:
        sent = getattr(self, "_mk_sent", None)
        if (
            sent is not None and isinstance(data, (bytes, bytearray))
            and not data.startswith(b"CONNECT ") and len(sent) < 65536
        ):
            sent += data
        super().send(data)  # type: ignore[misc]


_pool_classes: Dict[type, type] = {}
_pool_lock = threading.Lock()


def _recording_pool(pool_cls: type) -> type:
    with _pool_lock:
        if pool_cls not in _pool_classes:
            conn_cls = type("Recording" + pool_cls.ConnectionCls.__name__,  # type: ignore[attr-defined]
                            (_Recorder, pool_cls.ConnectionCls), {})  # type: ignore[attr-defined]
            _pool_classes[pool_cls] = type("Recording" + pool_cls.__name__, (pool_cls,),
                                           {"ConnectionCls": conn_cls})
        return _pool_classes[pool_cls]


def _patch(manager: Any) -> Any:
    classes = dict(manager.pool_classes_by_scheme)
    if not all(c in _pool_classes.values() for c in classes.values()):
        manager.pool_classes_by_scheme = {s: _recording_pool(c) for s, c in classes.items()}
    return manager


class _RecordingAdapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        _patch(self.poolmanager)

    def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
        return _patch(super().proxy_manager_for(proxy, **kwargs))

    def build_response(self, req: Any, resp: Any) -> requests.Response:
        # Only `raw` is used (headers are read from it, cookies go to the session's jar in
        # Fetcher.fetch): skip copying the headers and filling a per-response cookie jar.
        response = requests.Response()
        response.status_code = resp.status
        response.raw = resp
        response.reason = resp.reason
        response.url = req.url
        response.request = req
        response.connection = self
        return response


def _origin_form(sent: bytes) -> bytes:
    # Through an HTTP proxy the request line carries the absolute URL and Proxy-* headers; the
    # archive keeps the request as the origin server would have seen it.
    head = sent.split(b"\r\n\r\n", 1)[0]
    lines = head.split(b"\r\n")
    method, _, rest = lines[0].partition(b" ")
    target, _, version = rest.rpartition(b" ")
    if target.lower().startswith((b"http://", b"https://")):
        parts = urlsplit(target.decode("latin-1"))
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        lines[0] = b" ".join((method, path.encode("latin-1"), version))
    lines = [ln for ln in lines if not ln.lower().startswith(b"proxy-")]
    return b"\r\n".join(lines) + b"\r\n\r\n"


def _status_and_headers(raw: Any) -> Tuple[bytes, Dict[str, str], int]:
    orig = raw._original_response
    proto = {9: "HTTP/0.9", 10: "HTTP/1.0", 11: "HTTP/1.1"}.get(orig.version, "HTTP/1.1")
    lines = [f"{proto} {orig.status} {orig.reason}".rstrip()]
    headers: Dict[str, str] = {}
    for name, value in orig.msg._headers:
        if orig.chunked and name.lower() == "transfer-encoding":
            name = "X-Archive-Orig-Transfer-Encoding"
        lines.append(f"{name}: {value}")
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")
    return head, headers, int(orig.status)


def _tls_reason(err: BaseException) -> str:
    # requests wraps urllib3 wraps ssl: dig out the ssl error, whose text says what is wrong
    # ("certificate verify failed: self-signed certificate", "hostname mismatch", ...).
    stack: List[Any] = [err]
    seen = 0
    while stack and seen < 50:
        item = stack.pop()
        seen += 1
        if isinstance(item, ssl.SSLCertVerificationError):
            return item.verify_message or str(item)
        if isinstance(item, ssl.SSLError):
            return item.reason or str(item)
        if isinstance(item, BaseException):
            stack += [a for a in item.args if isinstance(a, BaseException)]
            stack += [x for x in (getattr(item, "reason", None), item.__cause__, item.__context__)
                      if isinstance(x, BaseException)]
    return str(err)[:200]


def _classify(err: Exception) -> FetchError:
    text = str(err)
    if isinstance(err, requests.exceptions.SSLError):
        return FetchError("tls", f"TLS failure: {_tls_reason(err)}")
    if isinstance(err, requests.exceptions.ProxyError):
        return FetchError("proxy", f"proxy failed: {text}")
    if isinstance(err, (requests.exceptions.ConnectTimeout, requests.exceptions.ReadTimeout)):
        return FetchError("timeout", "timed out")
    if isinstance(err, requests.exceptions.ConnectionError):
        if "NameResolution" in text or "Name or service not known" in text or "getaddrinfo" in text:
            return FetchError("dns", "host name could not be resolved")
        if "SOCKS" in text or "socks" in text:
            return FetchError("proxy", f"SOCKS proxy failed: {text[:200]}")
        if "Connection refused" in text:
            return FetchError("connection", "connection refused")
        return FetchError("connection", f"connection failed: {text[:200]}")
    if isinstance(err, (requests.exceptions.InvalidURL, requests.exceptions.InvalidSchema)):
        return FetchError("url", f"bad URL: {text}")
    return FetchError("http", f"{type(err).__name__}: {text[:200]}")


class Fetcher:
    """Fetches URLs with one requests.Session per thread; thread-safe."""

    def __init__(
        self,
        *,
        user_agent: str,
        timeout: float = 30.0,
        max_size: Optional[int] = None,
        proxy: Optional[str] = None,
        insecure: bool = False,
        pool_size: int = 8,
    ) -> None:
        """Configure fetching; nothing is opened yet. Raises nothing."""
        self.user_agent = user_agent
        self.timeout = timeout
        self.max_size = max_size
        self.proxy = proxy
        self.insecure = insecure
        if insecure:
            # The user chose this (and it is recorded in warcinfo): no warning per request.
            import urllib3

            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        self.pool_size = pool_size
        self._local = threading.local()
        self._sessions: List[requests.Session] = []
        self._lock = threading.Lock()
        self._proxies = {"http": proxy, "https": proxy} if proxy else {}
        self._headers: Optional[CaseInsensitiveDict[Union[str, bytes]]] = None

    def _session(self) -> Tuple[requests.Session, HTTPAdapter]:
        local = self._local
        session = getattr(local, "session", None)
        if session is None:
            session = requests.Session()
            session.trust_env = False  # only --proxy decides where traffic goes
            adapter = _RecordingAdapter(pool_connections=16, pool_maxsize=self.pool_size)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            session.headers.clear()
            session.headers.update(self._header_values())
            session.proxies = dict(self._proxies)
            session.verify = not self.insecure
            local.session, local.adapter = session, adapter
            with self._lock:
                self._sessions.append(session)
        return session, local.adapter

    def _header_values(self) -> Dict[str, str]:
        return {
            "User-Agent": self.user_agent,
            "Accept": "*/*",
            "Accept-Encoding": ACCEPT_ENCODING,
            "Connection": "keep-alive",
        }

    def _prepare(self, url: str, session: requests.Session) -> requests.PreparedRequest:
        # What Session.request(...) prepares for this GET, without re-merging the constant session
        # settings on every call: URL checks and requoting, headers, cookies, auth from the URL.
        headers = self._headers
        if headers is None:
            check = requests.PreparedRequest()
            check.prepare_headers(self._header_values())  # raises InvalidHeader per request
            self._headers = headers = check.headers
        prep = requests.PreparedRequest()
        prep.prepare_method("GET")
        prep.prepare_url(url, None)
        prep.headers = headers.copy()
        if len(session.cookies):
            prep.prepare_cookies(session.cookies)
        prep.prepare_body(None, None)
        if "@" in url:
            prep.prepare_auth(None, url)  # user:password@ in the URL, as requests does
        return prep

    def fetch(self, url: str) -> Response:
        """GET `url` without following redirects; raises FetchError when no response came."""
        started = time.monotonic()
        date = warc_date()
        session, adapter = self._session()
        try:
            # The session's adapter sends it: a 3xx is recorded as it came (Session.send would
            # read its body away to prepare the next hop) and no environment setting applies.
            prep = self._prepare(url, session)
            resp = adapter.send(prep, stream=True, timeout=(self.timeout, self.timeout),
                                verify=session.verify, proxies=self._proxies)
        except requests.RequestException as err:
            raise _classify(err) from err
        except (ValueError, UnicodeError) as err:
            raise FetchError("url", f"bad URL: {err}") from err
        raw = resp.raw
        try:
            conn = raw.connection
            sent = bytes(getattr(conn, "_mk_sent", b"")) if conn is not None else b""
            ip = None
            if conn is not None and not self.proxy and getattr(conn, "sock", None) is not None:
                try:
                    ip = conn.sock.getpeername()[0]
                except OSError:
                    ip = None
            request_head = _origin_form(sent) if sent else _synth_request(resp.request)
            head, headers, status = _status_and_headers(raw)
            if "set-cookie" in headers or "set-cookie2" in headers:
                extract_cookies_to_jar(session.cookies, prep, raw)
            body, length, digest, block_digest, truncated = self._read_body(raw, head, started)
        except BaseException:
            resp.close()
            raise
        if truncated:
            resp.close()  # the connection is mid-body: never reuse it
        else:
            raw.release_conn()  # back to the pool for keep-alive (resp.close() would drop it)
        return Response(url, date, status, head, request_head, body, length, digest, ip,
                        truncated, headers, block_digest)

    def _read_body(self, raw: Any, head: bytes,
                   started: float) -> Tuple[IO[bytes], int, str, str, Optional[str]]:
        """The body spooled to a temp file, its length, its payload digest, the record block's
        digest (head + body, computed here so the writer need not read the body for it), and
        why it was cut short, if it was."""
        body: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=4 * 1024 * 1024)  # noqa: SIM115
        sha1 = hashlib.sha1()
        block = hashlib.sha1(header_block(head))
        length = 0
        truncated = None
        deadline = started + max(300.0, self.timeout * 10)
        try:
            while True:
                want = CHUNK
                if self.max_size is not None:
                    want = min(CHUNK, self.max_size - length + 1)
                data = raw.read(want, decode_content=False)
                if not data:
                    break
                if self.max_size is not None and length + len(data) > self.max_size:
                    data = data[: self.max_size - length]
                    truncated = "length"
                sha1.update(data)
                block.update(data)
                body.write(data)
                length += len(data)
                if truncated:
                    break
                if time.monotonic() > deadline:
                    truncated = "time"
                    break
        except (urllib3.exceptions.ReadTimeoutError, TimeoutError) as err:
            # raw.read() raises urllib3's error, which is not requests' ReadTimeout
            body.close()
            raise FetchError("timeout", "timed out while reading the body") from err
        except Exception as err:  # urllib3 ProtocolError, IncompleteRead, ...
            if length == 0:
                body.close()
                raise FetchError("disconnect", f"connection lost: {str(err)[:160]}") from err
            truncated = "disconnect"
        body.seek(0)
        digest = "sha1:" + base64.b32encode(sha1.digest()).decode("ascii")
        block_digest = "sha1:" + base64.b32encode(block.digest()).decode("ascii")
        return body, length, digest, block_digest, truncated

    def close(self) -> None:
        """Close every session's connections."""
        with self._lock:
            for session in self._sessions:
                session.close()
            self._sessions.clear()


def _synth_request(prepared: Any) -> bytes:
    # Only used if the sent bytes could not be seen (should not happen with requests' adapters).
    parts = urlsplit(prepared.url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    lines = [f"{prepared.method} {target} HTTP/1.1", f"Host: {parts.netloc}"]
    lines += [f"{k}: {v}" for k, v in prepared.headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")
