"""The reader page: ``/<bundle>/[~opts/]<timestamp>/<original-url>`` on the reader origin.

It holds the trust display and shows the archived page in a sandboxed iframe served from the
bundle's own content origin (`serve.content`). The page's address is the bookmark; the reader
stays in step with the frame without any help from it: when the frame loads, the reader's own
script asks ``/_mk/at/<bundle>`` what the content origin last served to a navigating frame.
``opts`` (``~zh``, ``~en``, ``~failed``, joined by ``+``) carry the language and the choice to
look at a failed bundle anyway, in the address rather than in a cookie.
"""

from __future__ import annotations

from typing import Any, List, Optional, Tuple

from flask import Blueprint, Response, abort, g, jsonify, redirect, render_template, request

from .archive import pretty_ts
from .content import LATEST, scripts_allowed, split_target
from .gate import host_name
from .policy import (
    CLEAR_SITE_DATA,
    CLEAR_SITE_DATA_FIRST,
    SANDBOX_SAFE,
    SANDBOX_SCRIPTS,
    reader_allowlist,
    reader_csp,
)
from .urls import parse_replay_path
from .views import bundles, get_bundle

bp = Blueprint("reader", __name__)
_OPTS = ("en", "zh", "failed")


def split_opts(rest: str) -> Tuple[List[str], str]:
    """``~zh+failed/2020/http://x/`` -> (["zh", "failed"], "2020/http://x/")."""
    if rest.startswith("~"):
        head, sep, tail = rest[1:].partition("/")
        opts = [o for o in head.split("+") if o in _OPTS]
        if sep:
            return opts, tail
    return [], rest


def content_origin(bundle: Any) -> str:
    """``http://HOST:PORT`` of the bundle's content origin, as this request names the host."""
    host = host_name(request.host or "127.0.0.1")
    return f"http://{host}:{bundle.content_port or 0}"


def clear_site_data(response: Response) -> Response:
    """Every reader page clears what anything may have left in the reader's origin."""
    first = bundles().first_reader_page
    bundles().first_reader_page = False
    response.headers["Clear-Site-Data"] = CLEAR_SITE_DATA_FIRST if first else CLEAR_SITE_DATA
    return response


@bp.route("/<name>/<path:rest>", methods=["GET", "HEAD"])
def reader_page(name: str, rest: str) -> Any:
    bundle = get_bundle(name)
    parts = split_target(request.environ)
    raw = parts[1] if parts and parts[0] == name else ""
    opts, raw = split_opts(raw)
    lang = next((o for o in opts if o in ("en", "zh")), None)
    if lang:
        g.lang, g.lang_explicit = lang, None
    target = parse_replay_path(raw)
    if target is None:
        if raw.lower().startswith(("http:", "https:")):
            return redirect(_reader_url(name, opts, LATEST, "", raw))
        return _message("missing", "not_replay", "not_replay_body", raw, bundle, 404)
    if not hasattr(bundle, "find"):
        return _message("damaged", "unreadable", "", bundle.reason, bundle, 502)
    show_failed = "failed" in opts
    scripts = scripts_allowed(bundles(), bundle)
    src = ""
    if bundle.state != "failed" or show_failed:
        from .content import ContentApp

        app: ContentApp = bundles().content_app(name)
        src = content_origin(bundle) + app.path(target.timestamp, target.url, target.modifier)
    others = [o for o in opts if o != "failed"]
    html = render_template(
        "reader.html", b=bundle, target=target, src=src, scripts=scripts,
        sandbox=SANDBOX_SCRIPTS if scripts else SANDBOX_SAFE,
        captured=pretty_ts(target.timestamp), show_failed=show_failed,
        can_switch=bundle.state in ("trusted", "untrusted") and not bundles().scripts,
        failed_url=_reader_url(name, others + ["failed"], target.timestamp, target.modifier,
                               target.url),
        lang_url=_reader_url(name, [o for o in opts if o not in ("en", "zh")]
                             + ["zh" if g.lang == "en" else "en"], target.timestamp,
                             target.modifier, target.url),
        opts="+".join(opts),
    )
    response = Response(html, mimetype="text/html")
    # The frame may come only from this bundle's content origin; nothing else, ever.
    frame_origin = content_origin(bundle) if src else ""
    response.headers["Content-Security-Policy"] = reader_csp(frame_origin)
    response.headers["Connection-Allowlist"] = reader_allowlist(frame_origin)
    response.headers["Cache-Control"] = "no-store"
    return clear_site_data(response)


def _reader_url(name: str, opts: List[str], ts: str, modifier: str, url: str) -> str:
    seg = ("~" + "+".join(dict.fromkeys(opts)) + "/") if opts else ""
    return f"/{name}/{seg}{ts}{modifier}/{url}"


def _message(kind: str, heading: str, body: str, url: str, bundle: Any, status: int) -> Any:
    from . import i18n

    t = i18n.translator(g.lang)
    lines = [t(body)] if body else []
    if kind == "damaged" and url and not body:
        lines, url = [url], ""
    html = render_template("message.html", kind=kind, heading=t(heading), lines=lines, url=url,
                           bundle=bundle)
    return Response(html, status=status, mimetype="text/html")


@bp.route("/_mk/at/<name>")
def at(name: str) -> Any:
    """What the bundle's content origin last served to a navigating frame, and the state."""
    bundle = get_bundle(name)
    ts, url, kind = getattr(bundle, "last_served", ("", "", ""))
    return jsonify({"ts": ts, "url": url, "kind": kind, "state": bundle.state,
                    "captured": pretty_ts(ts) if ts else "",
                    "scripts": scripts_allowed(bundles(), bundle)})


@bp.route("/_mk/scripts/<name>", methods=["POST"])
def switch_scripts(name: str) -> Any:
    """The per-bundle switch. Only the reader's own page may use it: a form elsewhere (which
    over --lan carries no Sec-Fetch-Site) is refused by its Origin header."""
    bundle = get_bundle(name)
    origin = request.headers.get("Origin")
    if origin is None or origin != request.host_url.rstrip("/"):
        abort(403)
    want = request.form.get("on") == "1"
    if want and bundle.state not in ("trusted", "untrusted"):
        abort(409)  # never for a failed bundle, nor before verification passed
    bundle.scripts_asked = want
    back = request.form.get("back") or f"/{name}/"
    if not back.startswith(f"/{name}/"):
        back = f"/{name}/"
    return redirect(back, code=303)


def reader_url_for(bundle: Any, ts14: Optional[str], url: str) -> str:
    """The bookmarkable reader address of a page."""
    return f"/{bundle.name}/{ts14 or LATEST}/{url}"
