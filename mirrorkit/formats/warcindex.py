"""Building CDXJ entries from a WARC, as cdxj-indexer does, with every field of every record
checked: a malformed field or date is a WarcError naming the record, never a traceback, and
the record's own WARC digests are checked while it is read. Python 3.9-safe.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections import OrderedDict
from typing import IO, Any, Callable, Dict, Iterator, Optional

from mirrorkit.errors import WarcError
from mirrorkit.formats import timestamps
from mirrorkit.formats.cdxj import CdxjEntry
from mirrorkit.formats.surt import surt_key

__all__ = ["iter_warc_entries"]

_INDEXED_TYPES = ("response", "revisit", "resource", "metadata", "conversion")


def iter_warc_entries(stream: IO[bytes], filename: str,
                      on_record: Optional[Callable[[Any, CdxjEntry], None]] = None,
                      on_damage: Optional[Callable[[Dict[str, Any]], None]] = None
                      ) -> Iterator[CdxjEntry]:
    """Index one WARC the way cdxj-indexer does (requests and warcinfo skipped).

    `on_record(record, entry)` may read the record's content before its length is known.
    Entries carry `offset` and `length` but no `recordDigest` (the bundle writer adds it while it
    copies each record's bytes). With `on_damage`, every record's own WARC digests are checked as
    it is read (warcio's checker, no extra read), and `on_damage({"offset", "length", "url",
    "type", "problems", "entry"})` is called for each record warcio finds wrong, and for each
    revisit with a block digest, which warcio skips (`entry` is its CdxjEntry, or None for a
    record that is not indexed): suspects, to be confirmed with `formats.warcdigest`.
    Raises WarcError naming the record when the file is not a readable WARC or a record's fields
    are malformed (a bad WARC-Date, an unparseable HTTP head, ...).
    """
    from warcio.archiveiterator import ArchiveIterator

    it = ArchiveIterator(stream, check_digests=on_damage is not None)
    where = "at the start"
    try:
        for record in it:
            url = _field(record, "WARC-Target-URI").strip()
            if url.startswith("<") and url.endswith(">"):
                url = url[1:-1]  # wget 1.14
            what = f"the {record.rec_type or 'untyped'} record for {url[:200]!r}" if url \
                else f"a {record.rec_type or 'untyped'} record"
            where = "in " + what
            if record.format not in ("warc", "arc2warc") and not record.format.startswith("warc"):
                raise WarcError(f"{filename}: this is an ARC file (the format before WARC)",
                                hint="Convert it first: warcio recompress OLD.arc.gz "
                                     "NEW.warc.gz")
            entry = _entry(record, url, filename, on_record) if _indexable(record) else None
            # Keys in cdxj-indexer's order, so our lines read like everyone else's.
            length, offset = it.get_record_length(), it.get_record_offset()
            # warcio never checks a revisit's digests; `verify --deep` checks its block digest,
            # so a revisit that has one is always handed on to be checked the same way.
            suspect = record.digest_checker.passed is False or (
                record.rec_type == "revisit" and bool(_field(record, "WARC-Block-Digest")))
            if on_damage is not None and suspect:
                on_damage({"offset": offset, "length": length, "url": url,
                           "type": record.rec_type or "",
                           "problems": list(record.digest_checker.problems), "entry": entry})
            where = "after " + what  # what fails next is the reading of the next record
            if entry is None:
                continue
            fields = entry.fields
            fields["length"] = str(length)
            fields["offset"] = str(offset)
            fields["filename"] = filename
            for name in ("refersToUrl", "refersToDate"):
                if name in fields:
                    fields[name] = fields.pop(name)  # to the end
            yield entry
    except WarcError:
        raise
    except Exception as err:  # warcio raises ArchiveLoadFailed, ValueError, TypeError... on junk
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        raise WarcError(f"{filename}: not a readable WARC {where} ({first})",
                        hint="Check the file with `warcio check`.") from None


def _field(record: Any, name: str) -> str:
    value = record.rec_headers.get_header(name)
    return value if isinstance(value, str) else ""


def _entry(record: Any, url: str, filename: str,
           on_record: Optional[Callable[[Any, CdxjEntry], None]]) -> CdxjEntry:
    try:
        timestamp = timestamps.warc_date14(record.rec_headers.get_header("WARC-Date"))
    except ValueError as err:
        raise WarcError(f"{filename}: the {record.rec_type} record for {url[:200]!r} cannot be "
                        f"dated: {err}",
                        hint="Every record needs a WARC-Date with at least a day, e.g. "
                             "2014-01-26T20:06:24Z; fix the file or leave it out.") from None
    fields: OrderedDict[str, Any] = OrderedDict()
    fields["url"] = url
    mime = _mime(record)
    if mime:
        fields["mime"] = mime
    if record.rec_type in ("response", "revisit") and record.http_headers:
        fields["status"] = record.http_headers.get_statuscode()
    fields["digest"] = _field(record, "WARC-Payload-Digest").strip()
    entry = CdxjEntry(surt_key(url), timestamp, fields)
    if record.rec_type == "revisit":
        refers_url = _field(record, "WARC-Refers-To-Target-URI").strip().strip("<>")
        refers_date = _field(record, "WARC-Refers-To-Date")
        if refers_url:
            fields["refersToUrl"] = refers_url
        if refers_date:
            with contextlib.suppress(ValueError):
                fields["refersToDate"] = timestamps.warc_date14(refers_date)
    if not fields["digest"]:
        if record.rec_type == "revisit":
            del fields["digest"]  # as cdxj-indexer: a revisit's digest is never computed
        else:
            fields["digest"] = _payload_digest(record)
    if on_record is not None:
        on_record(record, entry)
    return entry


def _indexable(record: Any) -> bool:
    if record.rec_type not in _INDEXED_TYPES:
        return False
    content_type = record.rec_headers.get_header("Content-Type") or ""
    return not (record.rec_type in ("resource", "metadata")
                and content_type == "application/warc-fields")


def _mime(record: Any) -> str:
    if record.rec_type == "revisit":
        return "warc/revisit"
    if record.rec_type == "response":
        value = record.http_headers.get_header("Content-Type") if record.http_headers else None
    else:
        value = record.rec_headers.get_header("Content-Type")
    if not value:
        return ""
    return value.replace(";", " ").split(None, 1)[0].strip() if value.strip() else ""


def _payload_digest(record: Any) -> str:
    """sha1 (base32) of the payload, as warcio computes a missing one; the record's stream is
    replaced by a spooled copy, so its content can still be read afterwards."""
    import base64
    import tempfile

    digester = hashlib.sha1()
    spool = tempfile.SpooledTemporaryFile(8 * 1024 * 1024)  # noqa: SIM115 - the record owns it
    while True:
        chunk = record.raw_stream.read(65536)
        if not chunk:
            break
        digester.update(chunk)
        spool.write(chunk)
    spool.seek(0)
    record.raw_stream = spool
    return "sha1:" + base64.b32encode(digester.digest()).decode("ascii")
