"""The verification report: every check that ran and its outcome, the human summary and the
JSON for `--json`; and `VerificationFailed`, raised with it when anything fails."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from mirrorkit.errors import InvalidBundle
from mirrorkit.formats.safetext import neutral
from mirrorkit.formats.wacz import multi_wacz_message
from mirrorkit.trust.signing import SignerInfo

WORDING = ("The signature proves who packaged this archive and that it has not changed since; "
           "it does not prove what the original server sent.")


@dataclass
class Check:
    """One check that ran: its name, outcome ("ok", "warn", "fail", "skip") and detail."""

    name: str
    outcome: str
    detail: str


@dataclass
class Report:
    """Everything verification found, for the human summary and for `--json`."""

    path: str
    deep: bool = False
    checks: List[Check] = field(default_factory=list)
    signer: Optional[SignerInfo] = None
    trusted: bool = False
    trusted_name: Optional[str] = None
    bundle: Dict[str, Any] = field(default_factory=dict)
    damaged: List[Dict[str, Any]] = field(default_factory=list)
    warnings: List[str] = field(default_factory=list)
    # Records the signed bundle declares damaged before it was bundled (`bundle --keep-damaged`).
    damaged_at_source: List[Dict[str, Any]] = field(default_factory=list)
    unsigned: bool = False  # intact or not, nobody signed it
    multi_wacz: Optional[List[str]] = None  # the parts, when this is a multi-WACZ package
    parts: Optional[List[Report]] = None  # each part's own report, for a multi-WACZ package

    def add(self, name: str, outcome: str, detail: str) -> Check:
        """Record one check's outcome; never raises."""
        check = Check(name, outcome, detail)
        self.checks.append(check)
        return check

    @property
    def failures(self) -> List[Check]:
        """The checks that failed, in order."""
        return [c for c in self.checks if c.outcome == "fail"]

    @property
    def fingerprint(self) -> Optional[str]:
        """The signing key's fingerprint, once the signature has verified."""
        return self.signer.fingerprint if self.signer else None

    @property
    def ok(self) -> bool:
        """True when no check failed."""
        return not self.failures

    def summary(self) -> str:
        """Short human text: verdict and signer first, then what was checked and what failed."""
        if self.parts is not None:
            return "\n".join(parts_summary(self) + [WORDING])
        lines = []
        signer = self.signer
        who = neutral(self.bundle.get("publisher") or (signer.domain if signer else None)
                      or "an anonymous key (no publisher name)")
        if self.multi_wacz is not None:
            lines.append("FAILED: not a single bundle: " + multi_wacz_message(self.multi_wacz)
                         + ".")
        elif not self.ok and self.unsigned and all(c.name == "signature"
                                                   for c in self.failures):
            lines.append("FAILED: not signed. Every file matches the bundle's manifest, but "
                         "nobody signed it, so nothing says who made it or that it was not "
                         "changed. Treat its content as unverified.")
        elif not self.ok:
            lines.append("FAILED: this bundle was changed, damaged or is not validly signed. "
                         "Do not trust its content.")
        elif self.trusted:
            lines.append("OK: intact, validly signed by a TRUSTED key.")
            by_fingerprint = any(c.name == "trust" and "the one you gave" in c.detail
                                 for c in self.checks)
            if by_fingerprint:  # then the only name there is the bundle's own claim
                lines.append("Trusted because: its key has the fingerprint you gave.")
            else:
                lines.append(f"Trusted as: {neutral(self.trusted_name or who)} "
                             "(the name in your trust store)")
        else:
            lines.append("VALID BUT NOT TRUSTED: intact and validly signed, but the signing key "
                         "is not in your trust store.")
        if signer is not None:
            kind = ("domain signature for " + neutral(signer.domain) if signer.kind == "domain"
                    else "anonymous ECDSA P-384 key")
            lines.append(f"Signed by: {who} ({kind})")
            lines.append(f"Key fingerprint: {signer.fingerprint}")
            lines.append(f"Signed at: {neutral(signer.created)}")
            if signer.kind == "domain" and signer.certificate:
                cert = signer.certificate
                lines.append(f"Certificate: valid at signing time "
                             f"({neutral(cert.get('notBefore'))} .. "
                             f"{neutral(cert.get('notAfter'))}); chain "
                             f"{neutral(cert.get('chain', 'n/a'))}")
        if self.bundle.get("collection") is not None:
            lines.append(f"Collection: {neutral(self.bundle['collection'])}, "
                         f"sequence {neutral(self.bundle.get('sequence'))}")
        if self.ok and not self.trusted and signer is not None:
            lines.append("Compare the fingerprint with one you got from the publisher in person,"
                         " then run: mirrorkit trust add \"" + signer.fingerprint
                         + "\" --name NAME")
        lines.append("Checked: " + ", ".join(
            f"{c.name} {c.outcome.upper() if c.outcome != 'ok' else 'ok'}" for c in self.checks))
        for check in self.checks:
            if check.outcome in ("fail", "warn"):
                lines.append(f"  {check.outcome.upper()} {check.name}: {neutral(check.detail)}")
        for item in self.damaged_at_source[:20]:
            lines.append(f"  damaged before it was bundled: {item.get('url') or '-'} "
                         f"({item.get('file')} @ {item.get('offset')}): {item.get('problem')}")
        for item in self.damaged[:20]:
            lines.append(f"  damaged: {neutral(item.get('url') or '-')} "
                         f"({neutral(item.get('file'))} @ {neutral(item.get('offset'))}): "
                         f"{neutral(item.get('problem'))}")
        if len(self.damaged) > 20:
            lines.append(f"  ... and {len(self.damaged) - 20} more damaged entries (see --json)")
        for warning in self.warnings:
            lines.append(f"  note: {neutral(warning)}")
        lines.append(WORDING)
        return "\n".join(lines)

    def to_json(self) -> Dict[str, Any]:
        """A JSON-ready dict of the whole report."""
        status = "failed" if not self.ok else ("trusted" if self.trusted else "untrusted")
        if not self.ok and self.unsigned and all(c.name == "signature" for c in self.failures):
            status = "unsigned"
        return {
            "path": self.path, "status": status, "ok": self.ok, "trusted": self.trusted,
            "trustedName": self.trusted_name, "deep": self.deep,
            "signer": self.signer.to_json() if self.signer else None,
            "bundle": self.bundle,
            "checks": [c.__dict__ for c in self.checks],
            "damaged": self.damaged, "damagedAtSource": self.damaged_at_source,
            "unsigned": self.unsigned, "multiWacz": self.multi_wacz,
            "parts": [p.to_json() for p in self.parts] if self.parts is not None else None,
            "warnings": self.warnings, "statement": WORDING,
        }


class VerificationFailed(InvalidBundle):
    """A bundle failed verification; `.report` says which checks failed and where."""

    def __init__(self, report: Report) -> None:
        first = report.failures[0] if report.failures else Check("verify", "fail", "failed")
        more = len(report.failures) - 1
        super().__init__(
            # The detail may quote the bundle (a collection, a name): one escaped line.
            f"{report.path} failed verification: {first.name}: {neutral(first.detail)}"
            + (f" (and {more} more failed check{'s' if more > 1 else ''})" if more > 0 else ""),
            hint="the bundle was changed or damaged after it was signed; get another copy",
        )
        self.report = report


def parts_summary(report: Any) -> List[str]:
    """The human summary of a multi-WACZ package: the verdict, then each part's own summary."""
    count = len(report.parts)
    if not report.ok:
        head = (f"FAILED: multi-WACZ package of {count} part(s) (profile 'multi-wacz-package'): "
                "at least one part or the package failed. Do not trust the failed parts.")
    elif report.trusted:
        head = (f"OK: multi-WACZ package: all {count} parts intact, validly signed by TRUSTED "
                "keys.")
    else:
        head = (f"VALID BUT NOT TRUSTED: multi-WACZ package: all {count} parts intact and "
                "validly signed, but not every signer is in your trust store.")
    lines = [head, "Checked: " + ", ".join(
        f"{c.name} {c.outcome.upper() if c.outcome != 'ok' else 'ok'}" for c in report.checks)]
    for check in report.checks:
        if check.outcome in ("fail", "warn"):
            lines.append(f"  {check.outcome.upper()} {check.name}: {check.detail}")
    for part in report.parts:
        lines.append(f"Part {part.path.rsplit(' » ', 1)[-1]}:")
        body = part.summary().splitlines()[:-1]  # without the closing statement
        lines.extend("  " + line for line in body)
    lines.append("To read it, unzip the package and serve the parts: "
                 "mirrorkit serve PART1.wacz PART2.wacz ...")
    return lines
