"""Typed errors. Every error a user can cause carries a message saying what to do about it.

The CLI catches `MirrorkitError` once, prints its message (and its `diagnostics()` when there are
any) and exits with `exit_code`; `--verbose` adds the traceback. Python 3.9-safe: shipped in kits.
"""

from typing import List, Optional


class MirrorkitError(Exception):
    """Base of every error the kit raises on purpose."""

    exit_code = 1

    def __init__(self, message: str, *, hint: Optional[str] = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def diagnostics(self) -> List[str]:
        """Extra lines for the user: what to try next. Empty when the message says it all."""
        return [self.hint] if self.hint else []


class UsageError(MirrorkitError):
    """The command line asks for something that cannot work (bad URL, missing file, ...)."""

    exit_code = 2


class CaptureError(MirrorkitError):
    """A capture could not start or had to stop (network, disk, bad seed)."""


class WarcError(MirrorkitError):
    """A WARC file is unreadable or damaged."""


class InvalidBundle(MirrorkitError):
    """A WACZ bundle is malformed, damaged or tampered with."""


class SignatureError(InvalidBundle):
    """A bundle's signature is missing or does not verify."""


class UntrustedSigner(MirrorkitError):
    """The bundle is intact and validly signed, but its signer is not in the trust store."""

    exit_code = 3


class KeyFileError(MirrorkitError):
    """A key file is missing, unreadable, wrongly protected or the passphrase is wrong."""


class TrustStoreError(MirrorkitError):
    """The trust store cannot be read or written."""


class ReplayError(MirrorkitError):
    """The replay server cannot open a bundle or bind its address."""


class KitError(MirrorkitError):
    """A USB kit cannot be built."""


class QRError(MirrorkitError):
    """QR codes cannot be written or read back into a file."""


class CaptureInterrupted(CaptureError):
    """A capture was stopped (Ctrl-C); what was written is safe and `--resume` continues it."""

    exit_code = 130
