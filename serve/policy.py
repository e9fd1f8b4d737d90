"""The browser-enforced rules of the reader: origins, Content-Security-Policy, sandbox flags.

Safety never rests on URL rewriting (which can miss things): it rests on what the browser
enforces from these headers. Each value says, next to it, which guarantee it carries.

Origins (see docs/architecture.md, "Replay"):
- the *reader origin* (``http://HOST:PORT``, default port 8090) serves only the reader's own
  pages: trust display, bundle and page lists, search, raw files. Nothing archived ever runs or
  renders there;
- every bundle gets a *content origin* of its own (``http://HOST:<random port>``), whose every
  URL starts with a per-run, per-bundle secret. Archived bytes are served only there, to a
  sandboxed frame of the reader page.
"""

from __future__ import annotations

from typing import List, Tuple

# -- the reader origin ---------------------------------------------------------------------------


def reader_csp(frame_origin: str = "") -> str:
    """The reader page's policy: its own scripts and styles only, and frames only from the one
    content origin of the bundle shown (``frame_origin``; none at all when empty).

    ``frame-src`` of the embedding page also governs where its child frame may navigate itself,
    so an archived page cannot move its frame to an outside host or to another bundle's origin.
    """
    frames = frame_origin or "'none'"
    return ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            f"connect-src 'self'; frame-src {frames}; child-src {frames}; worker-src 'none'; "
            "form-action 'self'; base-uri 'none'; frame-ancestors 'none'; object-src 'none'")


def reader_allowlist(frame_origin: str = "") -> str:
    """``Connection-Allowlist`` of the reader's pages: the reader origin, and for a reader page
    the one content origin its frame comes from.

    CSP alone lets Chromium *open a connection* before it refuses a navigation: a frame sent to
    an outside host made Chromium open a TCP connection (no byte sent) to it first. Connection
    allowlists (Chromium 152+; ignored by other browsers, where CSP still holds) are checked
    before any connection, for navigations, resource hints and WebRTC too.
    """
    if not frame_origin:
        return "(response-origin)"
    # The frame's first load is the reader page's request: an archived redirect answers it.
    return f'(response-origin "{frame_origin}/*");redirects=allow'



READER_HEADERS: List[Tuple[str, str]] = [
    ("Referrer-Policy", "no-referrer"),
    ("X-DNS-Prefetch-Control", "off"),
    ("X-Content-Type-Options", "nosniff"),
    # The reader is never framed by anything (clickjacking of the trust display / switches).
    ("X-Frame-Options", "DENY"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=(), display-capture=()"),
]

# Sent with every reader page: the reader keeps no storage, so anything found in its origin
# (service workers included) was put there by someone else, e.g. an older mirrorkit that ran
# archived pages in this origin. Not "cookies": those are cleared per host, ignoring ports, so
# it would log the user out of other programs on 127.0.0.1; the reader reads no cookie, and
# archived pages can set none (opaque-origin frames, Set-Cookie dropped). The content origins
# need nothing: their pages only ever run with an opaque origin (sandbox), which has no storage.
# Chromium honours it only on secure contexts: 127.0.0.1 and localhost, not a LAN address.
CLEAR_SITE_DATA = '"storage"'
CLEAR_SITE_DATA_FIRST = '"cache", "storage"'

# -- the content origins -------------------------------------------------------------------------

# The iframe's sandbox. Without allow-same-origin the frame has an opaque origin: no cookies,
# no storage, no service workers, and it can never be same-origin with the reader.
# Without allow-top-navigation(-by-user-activation) it cannot move the reader page away; without
# allow-popups it cannot open windows (window.open, target=_blank), so nothing escapes the frame.
SANDBOX_SAFE = "allow-forms"
SANDBOX_SCRIPTS = "allow-forms allow-scripts"


def content_csp(origin: str, reader_origin: str, scripts: bool) -> str:
    """The policy on every archived response of one bundle's content origin ``origin``.

    - Loads only from ``origin`` itself (and inline ``data:``): an outside host is never
      contacted, whatever the markup says and whatever rewriting missed.
    - ``script-src 'none'`` in safe mode; with scripts, only the bundle's own scripts.
    - ``worker-src 'none'``: no service worker or worker, so nothing outlives the run.
    - ``frame-src`` is the origin only (no ``data:``/``blob:`` frames, which would escape the
      injected WebRTC removal); ``connect-src`` keeps fetch/XHR/WebSocket in the archive.
    - no ``frame-ancestors``: a frame nested in the sandboxed frame has an opaque-origin parent,
      which no source expression matches; only a page holding the per-run secret can name these
      URLs at all (`reader_origin` is kept for the day browsers match sandboxed ancestors).
    - ``sandbox``: the same flags as the reader's iframe, also when opened on its own.
    - ``webrtc 'block'`` (CSP3 draft): Chromium ignores it today; kept for browsers that honour
      it. In Chromium, WebRTC is blocked by the Connection-Allowlist header (152+) and removed
      by the injected script (`serve.inject`) for browsers without that header.
    """
    src = f"{origin} data:"
    if scripts:
        script = f"{origin} data: blob: 'unsafe-inline' 'unsafe-eval'"
        connect = f"{origin} data: blob:"
        sandbox = SANDBOX_SCRIPTS
    else:
        script = "'none'"
        connect = "'none'"
        sandbox = SANDBOX_SAFE
    return (
        f"default-src {src}; script-src {script}; style-src {src} 'unsafe-inline'; "
        f"img-src {src} blob:; font-src {src}; media-src {src} blob:; connect-src {connect}; "
        f"frame-src {origin}; child-src {origin}; worker-src 'none'; object-src 'none'; "
        f"manifest-src 'none'; form-action {origin}; base-uri {origin}; "
        f"sandbox {sandbox}; webrtc 'block'"
    )


CONTENT_HEADERS: List[Tuple[str, str]] = [
    # The network-level fence under the CSP above (see `reader_allowlist`): every connection an
    # archived document, or a frame it makes, may open goes to this content origin only. That
    # covers what CSP does not: the connection Chromium opens before refusing a navigation to
    # an outside host, and WebRTC (blocked by default under an allowlist). Redirects are
    # allowed because archived redirects are replayed. With `redirects=allow` Chromium 156 does
    # not check the hop against the list, but the CSP above is checked before a hop is followed
    # (seen: no connection to an outside host), and our Location headers stay in the archive.
    ("Connection-Allowlist", "(response-origin);redirects=allow"),
    ("Referrer-Policy", "no-referrer"),
    ("X-DNS-Prefetch-Control", "off"),
    ("X-Content-Type-Options", "nosniff"),
    ("Permissions-Policy",
     "camera=(), microphone=(), geolocation=(), display-capture=(), usb=(), serial=(), "
     "hid=(), bluetooth=(), payment=(), publickey-credentials-get=(), "
     "browsing-topics=(), attribution-reporting=()"),
    # The sandboxed frame has an opaque origin, so its font and fetch requests to its own
    # content origin are cross-origin CORS requests. Only a page that holds this bundle's
    # per-run secret can name a URL here; everything else is refused before it gets this far.
    ("Access-Control-Allow-Origin", "*"),
]
