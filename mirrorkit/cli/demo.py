"""`mirrorkit demo`: the whole chain on the built-in sample site, one line per step."""

from __future__ import annotations

from typing import Optional

import click

from mirrorkit.cli._output import emit_json


@click.command(name="demo")
@click.option("--out", "out", type=click.Path(file_okay=False), default=None,
              help="Folder for everything the demo makes (default: archives/demo).")
@click.option("--no-serve", is_flag=True, help="Stop after building the kit; do not serve it.")
@click.option("--port", type=int, default=0, show_default=True,
              help="Port for the replay server (0: any free port).")
@click.option("--open", "open_browser", is_flag=True, help="Open the browser at the address.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the result as JSON at the end (with --no-serve).")
def command(out: Optional[str], no_serve: bool, port: int, open_browser: bool,
            as_json: bool) -> int:
    """Capture, sign, verify, kit and serve the built-in sample site.

    Starts the bilingual sample site on 127.0.0.1, captures it, creates a demo key (no
    passphrase: a demo key, not for real use), signs the capture into a bundle, verifies it
    (trusting the demo key for this run only: your trust store is not changed), builds a USB
    kit in OUT/kit, and serves the kit's bundle until Ctrl+C. Running it again replaces the
    folder of the previous demo (and only such a folder).

    \b
    Example:
      mirrorkit demo                 # everything in archives/demo/, then serve it
      mirrorkit demo --no-serve --out /tmp/demo
    Exit codes: 0 done, 1 a step failed, 2 bad arguments (e.g. OUT holds other files),
    130 interrupted.
    """
    from mirrorkit.demo import DEFAULT_OUT, run_demo

    say = (lambda _line: None) if as_json else click.echo
    result = run_demo(out or DEFAULT_OUT, serve=not no_serve, port=port,
                      open_browser=open_browser, say=say)
    if as_json:
        emit_json({"out": str(result.out), "capture": str(result.capture),
                   "key": str(result.key), "bundle": str(result.bundle), "kit": str(result.kit),
                   "fingerprint": result.fingerprint, "pages": result.pages,
                   "url": result.url})
    return 0
