"""The `mirrorkit` command: a click group whose commands live one per module in this package.

The top layer: may import every stage; nothing imports it.

Commands only parse arguments, call one library function, print and choose the exit code. Every
`MirrorkitError` is caught here, once, and turned into a one-line message and its exit code.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import traceback
from typing import Any, Sequence

import click

from mirrorkit import __version__
from mirrorkit.errors import MirrorkitError
from mirrorkit.formats.safetext import neutral_lines

# name -> module that defines a click command called `command`. A command appears in `--help`
# only once its module exists: no stubs.
COMMANDS: dict[str, str] = {
    "capture": "mirrorkit.cli.capture",
    "bundle": "mirrorkit.cli.bundle",
    "merge": "mirrorkit.cli.merge",
    "verify": "mirrorkit.cli.verify",
    "key": "mirrorkit.cli.key",
    "trust": "mirrorkit.cli.trust",
    "serve": "mirrorkit.cli.serve",
    "kit": "mirrorkit.cli.kit",
    "qr": "mirrorkit.cli.qr",
    "torrent": "mirrorkit.cli.torrent",
    "demo": "mirrorkit.cli.demo",
    "reader": "mirrorkit.cli.reader",
}


def _available() -> list[str]:
    return [name for name, mod in COMMANDS.items() if importlib.util.find_spec(mod) is not None]


class _LazyGroup(click.Group):
    """Imports a command's module only when that command (or the help listing) needs it."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return _available()

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS or importlib.util.find_spec(COMMANDS[cmd_name]) is None:
            return None
        return importlib.import_module(COMMANDS[cmd_name]).command  # type: ignore[no-any-return]


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mirrorkit")
@click.option("--verbose", "-v", is_flag=True, help="Show full tracebacks for errors.")
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    """Keep web pages readable and verifiable where they are blocked.

    Archivists capture sites into WARC files, sign them into WACZ bundles and build USB kits and
    QR codes; recipients verify a bundle and read it offline in their browser.
    """
    ctx.ensure_object(dict)
    ctx.obj["verbose"] = verbose


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI in-process and return its exit code (tests call this)."""
    args = list(sys.argv[1:] if argv is None else argv)
    verbose = "-v" in args[:1] or "--verbose" in args
    try:
        result: Any = cli.main(args=args, prog_name="mirrorkit", standalone_mode=False)
    except MirrorkitError as err:
        if verbose:
            traceback.print_exc()
        # Messages quote file names, URLs and fields from bundles: escaped, never raw.
        click.secho(f"error: {neutral_lines(err.message)}", fg="red", err=True)
        for line in err.diagnostics():
            click.echo(f"  {neutral_lines(line)}", err=True)
        return err.exit_code
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return 130
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        return 130
    except click.exceptions.Exit as exc:
        return int(exc.exit_code or 0)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    return result if isinstance(result, int) else 0


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
