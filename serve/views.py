"""The reader's pages: the bundle list, each bundle's page list and search, the raw .wacz file."""

from __future__ import annotations

from typing import Any, Dict, List

from flask import (
    Blueprint,
    abort,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
)

from .archive import pretty_ts

bp = Blueprint("pages", __name__)
PAGE_LIST_LIMIT = 1000


def bundles() -> Any:
    """The app's `BundleSet`."""
    return current_app.extensions["mirrorkit"]


def get_bundle(name: str) -> Any:
    """The bundle called ``name``, or a 404."""
    b = bundles().get(name)
    if b is None:
        abort(404, description=f"There is no bundle called “{name}” on this server.")
    return b


def replay_path(bundle: Any, url: str, ts14: str) -> str:
    """The replay path of a page."""
    return f"/{bundle.name}/{ts14}/{url}"


def _page_view(bundle: Any, page: Dict[str, Any]) -> Dict[str, Any]:
    ts14 = page.get("ts14") or "99991231235959"
    return {
        "url": page.get("url"),
        "title": page.get("title") or "",
        "ts": pretty_ts(ts14) if ts14.strip("0") and not ts14.startswith("9999") else "",
        "replay": replay_path(bundle, str(page.get("url")), ts14),
        "snippet": page.get("snippet", ""),
        # update bundles (serve/chain.py): "new" / "changed since ..." and the earlier edition
        "change": bundle.page_change(str(page.get("url"))) if hasattr(bundle, "page_change")
        else None,
    }


@bp.route("/")
def home() -> Any:
    return render_template("index.html", bundles=bundles().bundles)


@bp.route("/bundles.json")
def bundles_json() -> Any:
    return jsonify([_bundle_json(b) for b in bundles().bundles])


def _bundle_json(b: Any) -> Dict[str, Any]:
    return {
        "name": b.name, "file": b.filename, "title": b.title, "publisher": b.publisher,
        "fingerprint": b.fingerprint, "state": b.state, "trusted": b.state == "trusted",
        "reason": b.reason, "pages": b.page_count, "captured": b.capture_range,
        "mainPageUrl": b.main_page_url,
    }


@bp.route("/<name>/")
def bundle(name: str) -> Any:
    b = get_bundle(name)
    q = (request.args.get("q") or "").strip()
    source: List[Dict[str, Any]] = b.search(q) if q and hasattr(b, "search") else b.pages
    more = len(source) > PAGE_LIST_LIMIT
    pages = [_page_view(b, p) for p in source[:PAGE_LIST_LIMIT]]
    report = getattr(b, "report", None)
    summary = report.summary() if report is not None and hasattr(report, "summary") else ""
    return render_template("bundle.html", b=b, q=q, pages=pages, more=more, summary=summary)


@bp.route("/<name>/pages.json")
def pages_json(name: str) -> Any:
    b = get_bundle(name)
    q = (request.args.get("q") or "").strip()
    source = b.search(q) if q and hasattr(b, "search") else b.pages
    return jsonify([
        {"url": p.get("url"), "ts": p.get("ts"), "title": p.get("title"),
         "replay": replay_path(b, str(p.get("url")), p.get("ts14") or "99991231235959")}
        for p in source
    ])


@bp.route("/<name>/main")
def main_page(name: str) -> Any:
    b = get_bundle(name)
    if b.main_page_url:
        return redirect(replay_path(b, b.main_page_url, b.main_page_ts or "99991231235959"))
    if b.pages:
        first = b.pages[0]
        return redirect(replay_path(b, first["url"], first.get("ts14") or "99991231235959"))
    abort(404, description="This bundle names no main page and lists no pages.")


@bp.route("/<name>.wacz", methods=["GET", "HEAD"])
def raw_wacz(name: str) -> Any:
    b = get_bundle(name)
    # send_file with conditional=True answers HEAD and Range (206, 416) with Accept-Ranges.
    return send_file(
        str(b.path), mimetype="application/wacz", conditional=True, as_attachment=False,
        download_name=b.filename, max_age=0,
    )


@bp.app_errorhandler(404)
def not_found(err: Any) -> Any:
    text = getattr(err, "description", "") or "Nothing here."
    from flask import g

    from . import i18n

    if not hasattr(g, "lang"):
        g.lang, g.lang_explicit = "en", None
    heading = i18n.translator(g.lang)("not_found")
    return render_template("message.html", kind="missing", heading=heading,
                           lines=[text], url=None, bundle=None), 404
