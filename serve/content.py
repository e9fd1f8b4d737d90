"""A bundle's content origin: the only place archived bytes are served, to the reader's frame.

Every URL is ``/<secret>/<timestamp><modifier>/<original-url>``; the secret is this bundle's,
for this run (`ReplayBundle.secret`). A request without it is dropped unanswered (`gate.Drop`),
so a page elsewhere cannot tell this port from a closed one. Every answer carries the policy of
`serve.policy.content_csp` for this origin: that, not the rewriting, is what keeps an archived
page from reaching out, running scripts in safe mode, or outliving the run.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

from .archive import Capture, NotArchived, pretty_ts
from .gate import Drop, host_allowed, host_name
from .policy import CONTENT_HEADERS, content_csp
from .records import DamagedAtSource, DamagedRecord, RecordTooLarge
from .respond import Prepared, media_type, prepare
from .urls import ReplayTarget, parse_replay_path

LATEST = "99991231235959"
_HTML = ("text/html", "application/xhtml+xml")


def split_target(environ: Dict[str, Any]) -> Optional[Tuple[str, str]]:
    """(first path segment, rest after it) from the raw request target, undecoded."""
    from urllib.parse import quote, unquote

    raw = environ.get("REQUEST_URI") or environ.get("RAW_URI")
    if not raw:
        raw = quote(environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8", "replace"),
                    safe="/:@!$&'()*+,;=~%")
        if environ.get("QUERY_STRING"):
            raw += "?" + environ["QUERY_STRING"]
    if raw.startswith(("http://", "https://")):  # absolute-form request target
        raw = "/" + raw.split("/", 3)[-1]
    name, sep, rest = raw[1:].partition("/")
    if not sep or not name:
        return None
    return unquote(name), rest


def scripts_allowed(bundle_set: Any, bundle: Any) -> bool:
    """Whether this bundle's archived scripts run: asked for (``--scripts`` or the reader's
    switch) and the bundle verified. Never while verifying, never for a failed bundle."""
    asked = bundle_set.scripts or getattr(bundle, "scripts_asked", False)
    return bool(asked) and bundle.state in ("trusted", "untrusted")


def is_navigation(environ: Dict[str, Any]) -> bool:
    """A frame's document load, not one of its images or scripts."""
    mode = environ.get("HTTP_SEC_FETCH_MODE")
    if mode is not None:
        return mode == "navigate"
    return "text/html" in environ.get("HTTP_ACCEPT", "")  # no Sec-Fetch over plain-http LAN


class ContentApp:
    """The WSGI app of one bundle's content origin."""

    def __init__(self, bundle_set: Any, bundle: Any, jinja_env: Any,
                 allowed_hosts: Iterable[str] = ()) -> None:
        self.bundle_set = bundle_set
        self.bundle = bundle
        self.jinja_env = jinja_env
        self.allowed = tuple(allowed_hosts)

    # -- URLs ---------------------------------------------------------------------------------

    @property
    def prefix(self) -> str:
        """The path every URL of this origin starts with (no trailing slash)."""
        return "/" + self.bundle.secret

    def path(self, ts14: str, url: str, modifier: str = "") -> str:
        """The content path of ``url`` at ``ts14``."""
        return f"{self.prefix}/{ts14}{modifier}/{url}"

    def origins(self, environ: Dict[str, Any]) -> Tuple[str, str]:
        """(this content origin, the reader's origin) as the browser names them."""
        host = host_name(environ.get("HTTP_HOST", "") or "127.0.0.1")
        port = self.bundle.content_port or environ.get("SERVER_PORT", "80")
        reader = self.bundle_set.reader_port or port
        return f"http://{host}:{port}", f"http://{host}:{reader}"

    # -- WSGI ---------------------------------------------------------------------------------

    def __call__(self, environ: Dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        if not host_allowed(environ.get("HTTP_HOST", ""), self.allowed):
            raise Drop()
        parts = split_target(environ)
        if parts is None or parts[0] != self.bundle.secret:
            raise Drop()  # not from the reader or from this bundle's own pages
        method = environ.get("REQUEST_METHOD", "GET")
        if method not in ("GET", "HEAD", "POST"):
            raise Drop()
        origin, reader = self.origins(environ)
        scripts = scripts_allowed(self.bundle_set, self.bundle)
        policy = [("Content-Security-Policy", content_csp(origin, reader, scripts))]
        policy += CONTENT_HEADERS
        target = parse_replay_path(parts[1])
        lang = _lang(environ)
        if target is None:
            return self._message(start_response, policy, "missing", 404, lang, "",
                                 environ, None)
        navigation = is_navigation(environ) and target.modifier == ""
        try:
            capture, prepared = self.replay(target, scripts, snapshot=navigation)
        except NotArchived:
            return self._message(start_response, policy, "missing", 404, lang, target.url,
                                 environ, target if navigation else None)
        except RecordTooLarge as err:
            # serve/records.py and the rewriters bound memory and CPU per page; past the bound
            # the page is refused with this explanation (the .wacz stays downloadable).
            return self._message(start_response, policy, "too_large", 413, lang, target.url,
                                 environ, target if navigation else None, err.message)
        except DamagedAtSource as err:
            return self._message(start_response, policy, "damaged_source", 502, lang,
                                 target.url, environ, target if navigation else None,
                                 err.message)
        except DamagedRecord as err:
            return self._message(start_response, policy, "damaged", 502, lang, target.url,
                                 environ, target if navigation else None, err.message)
        if navigation:
            kind = "snapshot" if capture.snapshot else "page"
            self.bundle.last_served = (capture.timestamp, capture.url, kind)
        headers = list(prepared.headers) + policy
        headers.append(("Content-Length", str(len(prepared.body))))
        start_response(f"{prepared.status} {_reason(prepared.status)}", headers)
        return [] if method == "HEAD" else [prepared.body]

    def replay(self, target: ReplayTarget, scripts: bool,
               snapshot: bool = False) -> Tuple[Capture, Prepared]:
        """Finds, checks and prepares the capture; raises NotArchived or DamagedRecord.

        In safe mode a page with a rendered snapshot near its time is shown from the snapshot
        (its JavaScript-built text, without running anything).
        """
        bundle = self.bundle
        capture = bundle.find(target.url, target.timestamp)
        if snapshot and not scripts and target.modifier == "":
            kind = media_type(capture.response.header("content-type"))
            if kind in _HTML or not kind:
                shot = bundle.find_snapshot(capture.url, capture.timestamp)
                if shot is not None:
                    capture = shot
        own, original = capture.digests
        key = None
        if own and original:
            # Same checked bytes, same URL, time and mode -> same output.
            key = (own, original, capture.url, capture.timestamp, target.modifier, scripts,
                   bundle.secret)
        prepared = bundle.responses_cache.get(key) if key else None
        if prepared is None:
            prepared = prepare(bundle, capture, target.modifier, self.prefix, scripts)
            if key:
                bundle.responses_cache.put(key, prepared, len(prepared.body) + 512)
        return capture, prepared

    def _message(self, start_response: Callable, policy: List[Tuple[str, str]], kind: str,
                 status: int, lang: str, url: str, environ: Dict[str, Any],
                 target: Optional[ReplayTarget], detail: str = "") -> Iterable[bytes]:
        from . import i18n

        if target is not None:
            self.bundle.last_served = (target.timestamp, target.url, kind)
        html = self.jinja_env.get_template("content_message.html").render(
            kind=kind, url=url, detail=detail, lang=lang, t=i18n.translator(lang),
            when=pretty_ts(target.timestamp) if target is not None else "")
        body = html.encode("utf-8")
        headers = [("Content-Type", "text/html; charset=utf-8"),
                   ("Content-Length", str(len(body))), ("Cache-Control", "no-cache")] + policy
        start_response(f"{status} {_reason(status)}", headers)
        return [body]


def _lang(environ: Dict[str, Any]) -> str:
    from . import i18n

    return i18n.pick(None, environ.get("HTTP_ACCEPT_LANGUAGE", ""))


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Archived"


def dispatch(bundle_set: Any, reader: Callable) -> Callable:
    """One WSGI app for every socket: the port a request came in on picks the origin."""

    def app(environ: Dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        try:
            port = int(environ.get("SERVER_PORT") or 0)
        except ValueError:
            port = 0
        bundle = bundle_set.by_port.get(port)
        if bundle is not None:
            return bundle_set.content_apps[bundle.name](environ,  # type: ignore[no-any-return]
                                                        start_response)
        return reader(environ, start_response)  # type: ignore[no-any-return]

    return app
