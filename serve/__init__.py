"""mirrorkit's replay server: a Flask app that replays signed WACZ bundles offline.

`create_app(bundles)` opens each bundle in place (no extraction), verifies it in the background,
and serves the *reader origin*: ``/`` (the bundles), ``/<bundle>/`` (pages and full-text search),
``/<bundle>/<timestamp>/<original-url>`` (the reader page: trust display and a sandboxed frame)
and ``/<bundle>.wacz`` (the raw file, with Range support for ReplayWeb.page). Archived bytes are
served only by each bundle's *content origin* (`serve.content`, its own port, a per-run secret
in every URL); `serve.policy` holds the browser-enforced rules. This package travels in the USB
kit: Python 3.9-safe, pure-Python dependencies only.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Union

from flask import Flask
from jinja2 import PackageLoader

from mirrorkit.errors import MirrorkitError, UsageError

from .archive import ReplayBundle, bundle_name, open_bundle
from .gate import Drop, host_allowed, reader_request_allowed

__all__ = ["create_app", "BundleSet", "BrokenBundle", "Drop", "host_allowed"]

PathLike = Union[str, "os.PathLike[str]"]


class BrokenBundle:
    """A bundle file that could not even be opened: listed as failed, never replayed."""

    def __init__(self, path: Path, name: str, reason: str) -> None:
        self.path = path
        self.name = name
        self.filename = path.name
        self.title = path.name
        self.description = ""
        self.created = ""
        self.publisher = None
        self.fingerprint = None
        self.main_page_url = None
        self.main_page_ts = None
        self.state = "failed"
        self.reason = reason
        self.report = None
        self.page_count = 0
        self.capture_range = "unknown"
        self.pages: List[Dict[str, Any]] = []
        self.secret = ""
        self.content_port: Optional[int] = None
        self.scripts_asked = False

    def wait_verified(self, timeout: Optional[float] = None) -> bool:
        return True

    def close(self) -> None:
        pass


class BundleSet:
    """The bundles an app serves, by name; kept in ``app.extensions['mirrorkit']``."""

    def __init__(self, bundles: List[Any], scripts: bool = False) -> None:
        self.bundles = bundles
        self.by_name = {b.name: b for b in bundles}
        self.scripts = scripts  # --scripts: archived scripts run once a bundle has verified
        self.reader_port: Optional[int] = None
        self.content_apps: Dict[str, Any] = {}
        self.by_port: Dict[int, Any] = {}
        self.first_reader_page = True  # the first reader page of the run also clears the cache

    def content_app(self, name: str) -> Any:
        """The WSGI app of bundle ``name``'s content origin (KeyError when it has none)."""
        return self.content_apps[name]

    def bind_ports(self, reader_port: int, content_ports: Mapping[str, int]) -> None:
        """Records the ports the server bound: the reader's and one per bundle."""
        self.reader_port = reader_port
        for name, port in content_ports.items():
            self.by_name[name].content_port = port
            self.by_port[port] = self.by_name[name]

    def get(self, name: str) -> Optional[Any]:
        """The bundle called ``name``, or None."""
        return self.by_name.get(name)

    def wait_verified(self, timeout: Optional[float] = None) -> bool:
        """Blocks until every bundle finished verifying; False if ``timeout`` ran out first."""
        return all(b.wait_verified(timeout) for b in self.bundles)

    def close(self) -> None:
        """Closes every bundle file."""
        for b in self.bundles:
            b.close()


def host_guard(wsgi: Any, extra: Iterable[str]) -> Any:
    """Wraps the reader's WSGI app: requests naming a foreign host (DNS rebinding) or sent by
    another origin's page (`gate.reader_request_allowed`) are dropped without an answer."""
    extra = tuple(extra)

    def app(environ: Dict[str, Any], start_response: Any) -> Any:
        if not host_allowed(environ.get("HTTP_HOST", ""), extra) \
                or not reader_request_allowed(environ):
            raise Drop()
        return wsgi(environ, start_response)

    return app


_STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                 ".png": "image/png", ".svg": "image/svg+xml", ".woff2": "font/woff2"}


def _static_file(filename: str) -> Any:
    """One of the reader's own static files, read from the package (a folder or the zipapp)."""
    from importlib.resources import files

    from flask import Response, abort

    suffix = "." + filename.rsplit(".", 1)[-1] if "." in filename else ""
    # Only plain names inside static/: nothing the URL names can climb out of it.
    if "/" in filename or "\\" in filename or filename.startswith(".") or \
            suffix not in _STATIC_TYPES:
        abort(404)
    resource = files("serve").joinpath("static").joinpath(filename)
    if not resource.is_file():
        abort(404)
    response = Response(resource.read_bytes(), mimetype=_STATIC_TYPES[suffix])
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


def create_app(bundles: Iterable[PathLike], config: Optional[Mapping[str, Any]] = None) -> Flask:
    """Builds the replay app for the given WACZ files.

    ``config`` keys: ``verify`` (default True), ``background`` (verify in a thread so start-up
    stays fast; default True), ``fingerprint`` (a fingerprint the user vouches for),
    ``allowed_hosts`` (host names accepted besides IP addresses and localhost). Raises
    UsageError when a path does not exist or no bundle is given; a file that is not a readable
    bundle is listed as failed instead of stopping the others.
    """
    cfg: Dict[str, Any] = {"verify": True, "background": True, "fingerprint": None,
                           "allowed_hosts": (), "scripts": False}
    cfg.update(config or {})
    paths = [Path(p).resolve() for p in bundles]
    if not paths:
        raise UsageError("give at least one .wacz file to serve")
    for p in paths:
        if not p.is_file():
            raise UsageError(f"{p} does not exist or is not a file")
    taken: set = set()
    opened: List[Any] = []
    for p in paths:
        name = bundle_name(p, taken)
        try:
            opened.append(open_bundle(p, name))
        except MirrorkitError as err:
            opened.append(BrokenBundle(p, name, err.message))
    from .chain import link_chains

    opened = link_chains(opened)  # an update + its bases = one collection (issue 15)
    bundle_set = BundleSet(opened, scripts=bool(cfg["scripts"]))

    # Templates and static files are read as package resources, never as paths: the USB kit
    # runs this package from inside its zipapp, and unpacking it would leave traces behind.
    app = Flask(__name__, static_folder=None, template_folder=None)
    app.jinja_loader = PackageLoader("serve", "templates")
    app.add_url_rule("/_mk/static/<path:filename>", endpoint="static", view_func=_static_file)
    app.url_map.merge_slashes = False  # "/<ts>/http://host/" must keep its "//"
    app.url_map.strict_slashes = False
    app.config.update({k.upper(): v for k, v in cfg.items() if isinstance(k, str)})
    app.extensions["mirrorkit"] = bundle_set

    from . import i18n
    from .content import ContentApp
    from .policy import READER_HEADERS, reader_allowlist, reader_csp
    from .reader import bp as reader_bp
    from .views import bp as pages_bp

    i18n.install(app)
    app.register_blueprint(pages_bp)
    app.register_blueprint(reader_bp)
    allowed = tuple(cfg.get("allowed_hosts") or ())
    app.wsgi_app = host_guard(app.wsgi_app, allowed)  # type: ignore[method-assign]
    # Archived bytes are served only by these, each on a port of its own (`serve.server`).
    for b in opened:
        if isinstance(b, ReplayBundle):
            bundle_set.content_apps[b.name] = ContentApp(bundle_set, b, app.jinja_env, allowed)

    @app.after_request
    def _safety(response: Any) -> Any:
        # The reader's own pages: its scripts and styles only, no frames unless the reader
        # page names its one content origin itself.
        response.headers.setdefault("Content-Security-Policy", reader_csp())
        response.headers.setdefault("Connection-Allowlist", reader_allowlist())
        for key, value in READER_HEADERS:
            response.headers.setdefault(key, value)
        return response

    to_verify = [b for b in opened if isinstance(b, ReplayBundle)]
    if not cfg["verify"]:
        for b in to_verify:
            b.state, b.reason = "failed", "verification was switched off"
            b._verified.set()
    elif cfg["background"]:
        def run() -> None:
            for b in to_verify:
                b.verify(cfg["fingerprint"])

        threading.Thread(target=run, name="mirrorkit-verify", daemon=True).start()
    else:
        for b in to_verify:
            b.verify(cfg["fingerprint"])
    return app
