"""What the replay server adds to archived HTML: a small script and the archive banner.

The script keeps requests made by the page's own JavaScript inside the archive (``fetch``,
``XMLHttpRequest``, ``sendBeacon``, ``EventSource``, ``window.open``); the Content-Security-Policy
blocks anything it misses. The banner says whose archive this is, whether it verified, and when
the page was captured. Both are pure ASCII (non-ASCII text as character references), so they can
be inserted into a page in any charset; neither loads anything.
"""

from __future__ import annotations

import html
import json
from typing import Optional

_SHIM = """<script>/* mirrorkit replay: keep scripted requests inside the archive */
(function(){var P=%(prefix)s,B=%(bundle)s,O=%(orig)s,L=location.origin;
function rw(u){var s=String(u);if(/^(data|blob|javascript|about):/i.test(s))return s;var a;
try{a=new URL(s,document.baseURI);}catch(e){return s;}
if(a.origin===L){if(a.pathname.indexOf(B)===0)return a.href;
try{a=new URL(a.pathname+a.search+a.hash,O);}catch(e){return s;}}
if(!/^https?:$/.test(a.protocol))return s;return L+P+a.href;}
var f=window.fetch;if(f){window.fetch=function(i,o){
if(typeof Request!=="undefined"&&i instanceof Request){i=new Request(rw(i.url),i);}
else{i=rw(i);}return f.call(this,i,o);};}
var x=XMLHttpRequest.prototype.open;XMLHttpRequest.prototype.open=function(m,u){
var a=Array.prototype.slice.call(arguments);a[1]=rw(u);return x.apply(this,a);};
if(navigator.sendBeacon){navigator.sendBeacon=function(){return false;};}
if(window.EventSource){var E=window.EventSource;
window.EventSource=function(u,c){return new E(rw(u),c);};}
var w=window.open;window.open=function(u,n,s){return w.call(window,u?rw(u):u,n,s);};
window.WebSocket=function(){throw new Error("WebSocket is not available in an archived copy");};
if(navigator.serviceWorker){navigator.serviceWorker.register=function(){
return Promise.reject(new Error("no service workers in an archived copy"));};}
})();</script>"""

_COLORS = {
    "trusted": ("#116329", "#dafbe1"),
    "untrusted": ("#7d4e00", "#fff8c5"),
    "verifying": ("#444444", "#eeeeee"),
    "failed": ("#ffffff", "#cf222e"),
}
_STATE_TEXT = {
    "trusted": "verified, trusted signer",
    "untrusted": "signature valid, signer NOT in your trust store: check the fingerprint",
    "verifying": "still checking the signature",
    "failed": "VERIFICATION FAILED: do not trust this copy",
}


def _ascii(text: str) -> str:
    """HTML-escapes ``text`` and turns every non-ASCII character into a character reference."""
    return html.escape(text, quote=True).encode("ascii", "xmlcharrefreplace").decode("ascii")


def shim_script(prefix: str, bundle_prefix: str, original_url: str) -> str:
    """The ``<script>`` that maps scripted request URLs into ``prefix`` (``/<bundle>/<ts>/``)."""
    def js(value: str) -> str:
        # JSON is valid JS; escaping '<' and non-ASCII keeps it inert inside <script> in any charset
        return json.dumps(value).replace("<", "\\u003c")

    shim = _SHIM % {"prefix": js(prefix), "bundle": js(bundle_prefix), "orig": js(original_url)}
    # mirrorkit issue 13 hook: client-side rewriting runs in the same <script>, after the shim
    return shim[:-len("</script>")] + "\n" + client_rewrite_script(prefix, original_url) \
        + "</script>"


# --- mirrorkit issue 13: client-side rewriting of URLs that page scripts set --------------------
# A minimal hook for today's server; the safe-replay frame (issue 10) carries it over. The script
# (static/client_rewrite.js) is inlined, so it runs before the page's own scripts.
_CLIENT_REWRITE = None


def client_rewrite_script(prefix: str, page_url: str) -> str:
    """Script text (no ``<script>`` tags) setting ``window.__MK_REWRITE`` and running
    static/client_rewrite.js; contains no ``</script``."""
    global _CLIENT_REWRITE
    if _CLIENT_REWRITE is None:
        import pkgutil

        # pkgutil reads package data from a folder and from inside the kit's zipapp alike
        data = pkgutil.get_data(__package__ or "serve", "static/client_rewrite.js") or b""
        _CLIENT_REWRITE = data.decode("utf-8").replace("</script", "<\\/script")
    conf = json.dumps({"prefix": prefix, "pageUrl": page_url}).replace("<", "\\u003c")
    conf = conf.encode("ascii", "backslashreplace").decode("ascii")
    return "window.__MK_REWRITE=" + conf + ";\n" + _CLIENT_REWRITE


def banner(
    *,
    state: str,
    publisher: Optional[str],
    fingerprint: Optional[str],
    captured: str,
    original_url: str,
    bundle_href: str,
    record_note: str = "",
) -> str:
    """The fixed, dismissable banner shown on every replayed page."""
    fg, bg = _COLORS.get(state, _COLORS["failed"])
    fp = fingerprint or "none"
    short_fp = " ".join(fp.split()[:4]) + (" ..." if len(fp.split()) > 4 else "")
    parts = [
        "<b>Archived copy</b> &#23384;&#26723;&#21103;&#26412;",
        "captured " + _ascii(captured),
        "publisher: " + _ascii(publisher or "unknown"),
        '<span title="' + _ascii(fp) + '">key ' + _ascii(short_fp) + "</span>",
        "<b>" + _ascii(_STATE_TEXT.get(state, state)) + "</b>",
    ]
    if record_note:
        parts.append(_ascii(record_note))
    style = (
        "all:initial;position:fixed;z-index:2147483647;left:8px;bottom:8px;"
        "max-width:calc(100% - 16px);box-sizing:border-box;padding:4px 10px;border-radius:6px;"
        "font:12px/1.4 system-ui,sans-serif;"
        f"color:{fg};background:{bg};border:1px solid rgba(0,0,0,.25);"
        "box-shadow:0 1px 4px rgba(0,0,0,.2);opacity:.95;"
    )
    link = f"color:{fg};text-decoration:underline;font:inherit;"
    button = (f"all:initial;cursor:pointer;color:{fg};font:bold 13px system-ui,sans-serif;"
              "margin-left:8px;")
    return (
        f'<div id="mirrorkit-banner" data-state="{_ascii(state)}" role="note" '
        f'aria-label="Archived copy" style="{style}">'
        + " &middot; ".join(parts)
        + f' &middot; <a style="{link}" href="{_ascii(bundle_href)}" target="_top">all pages</a>'
        + f'<span style="display:none" data-original-url="{_ascii(original_url)}"></span>'
        + f'<button type="button" style="{button}" aria-label="Hide" '
        + "onclick=\"this.parentNode.style.display='none'\">&times;</button></div>"
    )
