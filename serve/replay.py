"""Replay: ``/<bundle>/<timestamp><modifier>/<original-url>`` -> the archived response.

`replay_response` does the work for both entry points: the Flask view (every case, including
the "not in this archive" and "damaged" pages) and `fast_path`, a thin WSGI layer that answers
plain GET/HEAD replays that succeed without Flask's per-request machinery. Both read the record
from disk and check its digest on every request.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, List, Optional, Tuple
from urllib.parse import quote, unquote

from flask import Blueprint, Response, redirect, render_template, request

from .archive import Capture, NotArchived
from .records import DamagedAtSource, DamagedRecord, RecordTooLarge
from .respond import Prepared, prepare
from .urls import ReplayTarget, parse_replay_path
from .views import get_bundle

bp = Blueprint("replay", __name__)
LATEST = "99991231235959"
DAMAGED = "This record is damaged · 此记录已损坏"
TOO_LARGE = "This page is too large to show · 此页面过大，无法显示"


def split_target(environ: dict) -> Optional[Tuple[str, str]]:
    """(bundle name, rest after ``/<name>/``) from the raw request target, undecoded."""
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


def replay_response(bundle: Any, target: ReplayTarget) -> Tuple[Capture, Prepared]:
    """Finds, checks and prepares the capture; raises NotArchived or DamagedRecord."""
    capture = bundle.find(target.url, target.timestamp)
    note = "" if capture.entry.record_digest else "this record has no digest of its own"
    own, original = capture.digests
    key = None
    if own and original:
        # Same checked bytes, same URL and time, same banner state -> same output.
        key = (own, original, capture.url, capture.timestamp, target.modifier, bundle.state)
    prepared = bundle.responses_cache.get(key) if key else None
    if prepared is None:
        prepared = prepare(bundle, capture, target.modifier, f"/{bundle.name}", note)
        if key:
            bundle.responses_cache.put(key, prepared, len(prepared.body) + 512)
    return capture, prepared


def _etag(capture: Capture, target: ReplayTarget) -> str:
    digest = capture.entry.record_digest or ""
    return digest.split(":")[-1][:32] + target.modifier if digest else ""


def fast_path(bundles: Any, flask_wsgi: Callable) -> Callable:
    """A WSGI app answering successful plain GET/HEAD replays; everything else goes to Flask."""

    def app(environ: dict, start_response: Callable) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD")
        if method in ("GET", "HEAD") and "HTTP_RANGE" not in environ \
                and "HTTP_IF_NONE_MATCH" not in environ:
            parts = split_target(environ)
            bundle = bundles.get(parts[0]) if parts else None
            target = parse_replay_path(parts[1]) if parts and bundle is not None else None
            if target is not None and hasattr(bundle, "find"):
                try:
                    capture, prepared = replay_response(bundle, target)
                except (NotArchived, DamagedRecord):
                    pass  # Flask renders the explanation page
                else:
                    headers = _headers(prepared, capture, target)
                    start_response(f"{prepared.status} {_reason(prepared.status)}", headers)
                    return [] if method == "HEAD" else [prepared.body]
        return flask_wsgi(environ, start_response)  # type: ignore[no-any-return]

    return app


def _headers(prepared: Prepared, capture: Capture, target: ReplayTarget) -> List[Tuple[str, str]]:
    headers = list(prepared.headers)
    headers.append(("Content-Length", str(len(prepared.body))))
    if not prepared.rewritten and prepared.status == 200:
        headers.append(("Accept-Ranges", "bytes"))
        etag = _etag(capture, target)
        if etag:
            headers.append(("ETag", f'"{etag}"'))
    return headers


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Archived"


def _message(kind: str, heading: str, lines: list, url: str, bundle: Any, status: int) -> Response:
    html = render_template("message.html", kind=kind, heading=heading, lines=lines, url=url,
                           bundle=bundle)
    return Response(html, status=status, mimetype="text/html")


@bp.route("/<name>/<path:rest>", methods=["GET", "HEAD", "POST"])
def replay(name: str, rest: str) -> Any:
    bundle = get_bundle(name)
    parts = split_target(request.environ)
    raw = parts[1] if parts and parts[0] == name else None
    target = parse_replay_path(raw or "")
    if target is None:
        if raw and raw.lower().startswith(("http:", "https:")):
            return redirect(f"/{name}/{LATEST}/{raw}")
        return _message("missing", "Not a replay address", [
            "Replay addresses look like /<bundle>/<timestamp>/<original address>.",
        ], raw or "", bundle, 404)
    if not hasattr(bundle, "find"):
        return _message("damaged", "This bundle cannot be read", [bundle.reason], target.url,
                        bundle, 502)
    try:
        capture, prepared = replay_response(bundle, target)
    except NotArchived:
        return _message("missing", "Not in this archive · 存档中没有此页面", [
            "This address was not captured in this bundle, so there is nothing to show.",
            "Nothing was fetched from the internet.",
        ], target.url, bundle, 404)
    except RecordTooLarge as err:
        # serve/records.py and the rewriters bound memory and CPU per page; past the bound the
        # page is refused with this explanation (the .wacz itself stays downloadable).
        return _message("damaged", TOO_LARGE, [
            "This page is not shown: unpacking or rewriting it would take more memory or time "
            "than this reader gives one page, which is what a page built to harm readers does.",
            err.message,
        ], target.url, bundle, 413)
    except DamagedAtSource as err:
        return _message("damaged", DAMAGED, [
            "This record was already damaged when the publisher bundled it, and the signed "
            "bundle says so: it is not shown. The rest of the bundle still works.",
            err.message,
        ], target.url, bundle, 502)
    except DamagedRecord as err:
        return _message("damaged", DAMAGED, [
            "The archived bytes for this address do not match the fingerprint the signed "
            "bundle gives for them, so they are not shown. The rest of the bundle still works.",
            err.message,
        ], target.url, bundle, 502)
    resp = Response(prepared.body, status=prepared.status)
    del resp.headers["Content-Type"]  # only the archived one (none if it had none)
    for key, value in prepared.headers:
        resp.headers.add(key, value)
    resp.headers["Content-Length"] = str(len(prepared.body))
    if not prepared.rewritten and prepared.status == 200:
        etag = _etag(capture, target)
        if etag:
            resp.set_etag(etag)
        # Updates `resp` in place (werkzeug returns the same object, typed as its base class).
        resp.make_conditional(request, accept_ranges=True, complete_length=len(prepared.body))
    return resp
