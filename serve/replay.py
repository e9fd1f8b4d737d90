"""Replay: ``/<bundle>/<timestamp><modifier>/<original-url>`` -> the archived response."""

from __future__ import annotations

from typing import Any, Optional
from urllib.parse import quote, unquote

from flask import Blueprint, Response, redirect, render_template, request

from .archive import NotArchived
from .records import DamagedRecord
from .respond import prepare
from .urls import parse_replay_path
from .views import get_bundle

bp = Blueprint("replay", __name__)
LATEST = "99991231235959"


def _raw_rest(name: str) -> Optional[str]:
    """The request target after ``/<name>/``, undecoded, query included (None if not that)."""
    raw = request.environ.get("REQUEST_URI") or request.environ.get("RAW_URI")
    if not raw:
        raw = quote(request.path, safe="/:@!$&'()*+,;=~%") + (
            "?" + request.query_string.decode("latin-1") if request.query_string else "")
    if raw.startswith(("http://", "https://")):  # absolute-form request target
        raw = "/" + raw.split("/", 3)[-1]
    prefix = f"/{name}/"
    if not raw.startswith(prefix):
        decoded = unquote(raw)
        if not decoded.startswith(prefix):
            return None
        raw = decoded
    return raw[len(prefix):]


def _message(kind: str, heading: str, lines: list, url: str, bundle: Any, status: int) -> Response:
    html = render_template("message.html", kind=kind, heading=heading, lines=lines, url=url,
                           bundle=bundle)
    return Response(html, status=status, mimetype="text/html")


@bp.route("/<name>/<path:rest>", methods=["GET", "HEAD", "POST"])
def replay(name: str, rest: str) -> Any:
    bundle = get_bundle(name)
    raw = _raw_rest(name)
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
        capture = bundle.find(target.url, target.timestamp)
    except NotArchived:
        return _message("missing", "Not in this archive · 存档中没有此页面", [
            "This address was not captured in this bundle, so there is nothing to show.",
            "Nothing was fetched from the internet.",
        ], target.url, bundle, 404)
    except DamagedRecord as err:
        return _message("damaged", "This record is damaged · 此记录已损坏", [
            "The archived bytes for this address do not match the fingerprint the signed "
            "bundle gives for them, so they are not shown. The rest of the bundle still works.",
            err.message,
        ], target.url, bundle, 502)
    note = "" if capture.entry.get("recordDigest") else "this record has no digest of its own"
    own, original = capture.digests
    key = None
    if own and original:
        # Same checked bytes, same URL and time, same banner state -> same output.
        key = (own, original, capture.url, capture.timestamp, target.modifier, bundle.state)
    prepared = bundle.responses_cache.get(key) if key else None
    try:
        if prepared is None:
            prepared = prepare(bundle, capture, target.modifier, f"/{name}", note)
            if key:
                bundle.responses_cache.put(key, prepared, len(prepared.body) + 512)
    except DamagedRecord as err:
        return _message("damaged", "This record is damaged · 此记录已损坏", [err.message],
                        target.url, bundle, 502)
    resp = Response(prepared.body, status=prepared.status)
    del resp.headers["Content-Type"]  # only the archived one (none if it had none)
    for key, value in prepared.headers:
        resp.headers.add(key, value)
    resp.headers["Content-Length"] = str(len(prepared.body))
    if not prepared.rewritten and prepared.status == 200:
        digest = capture.entry.get("recordDigest") or ""
        if digest:
            resp.set_etag(digest.split(":")[-1][:32] + target.modifier)
        if "Range" in request.headers or "If-None-Match" in request.headers:
            resp = resp.make_conditional(request, accept_ranges=True,
                                         complete_length=len(prepared.body))
        else:
            resp.headers["Accept-Ranges"] = "bytes"
    return resp
