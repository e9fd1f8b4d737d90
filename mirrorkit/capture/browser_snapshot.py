"""The rendered snapshot of a page (the DOM after behaviours, with script-made CSSOM rules and
FontFace fonts folded in as `<style>`), its screenshot, and reading recorded responses back.

Records (Browsertrix's and ArchiveWeb.page's conventions):
- `conversion`, `WARC-Target-URI: urn:snapshot:<url>`, `text/html; charset=utf-8`, the HTML as the
  block, `WARC-Refers-To` the page's response record (+ `-Target-URI`, `-Date`). Not under the
  page's own URL, or pywb would replay the snapshot in place of the page.
- `resource`, `urn:screenshot:<url>`, `image/png` (with --screenshots).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from mirrorkit.capture.browser_launch import page_script as _js
from mirrorkit.capture.warcwriter import Written
from mirrorkit.formats.warc import warc_date

# Installed in every page before its scripts run: remembers fonts made with the FontFace API
# (document.fonts does not say which faces came from CSS), pop-up URLs (window.open), and how
# many rules each linked stylesheet had at load.
INIT_SCRIPT = _js("init.js")

# Reads the live DOM's links, then serializes it. <style> elements whose rules were changed by
# script (insertRule) get their current rules as text; constructed (adopted) sheets and FontFace
# fonts go into one extra <style data-mirrorkit="cssom">. URLs stay as the page wrote them.
SNAPSHOT_JS = _js("snapshot.js")

def write_page_records(warc: Any, url: str, response: Written, page: Dict[str, Any]) -> int:
    """Write the snapshot (and screenshot) records of a page right after its response, in the
    same WARC file (resume checks the journal's end offset in that file); return the new end.
    Raises OSError."""
    builder = warc._builder
    end = response.end
    html: Optional[str] = page.get("snapshot")
    if html is not None:
        headers = warc._common("conversion", f"urn:snapshot:{url}", warc_date(), None)
        headers.update({"WARC-Refers-To": response.record_id,
                        "WARC-Refers-To-Target-URI": url,
                        "WARC-Refers-To-Date": response.date,
                        "Content-Type": "text/html; charset=utf-8"})
        data = html.encode("utf-8", "replace")
        rec = builder.create_warc_record(f"urn:snapshot:{url}", "conversion",
                                         payload=io.BytesIO(data), length=len(data),
                                         warc_headers_dict=headers)
        end = warc._done(warc._emit(rec)).end
    png: Optional[bytes] = page.get("screenshot")
    if png:
        headers = warc._common("resource", f"urn:screenshot:{url}", warc_date(), None)
        headers.update({"WARC-Refers-To-Target-URI": url, "WARC-Refers-To-Date": response.date,
                        "Content-Type": "image/png"})
        rec = builder.create_warc_record(f"urn:screenshot:{url}", "resource",
                                         payload=io.BytesIO(png), length=len(png),
                                         warc_headers_dict=headers)
        end = warc._done(warc._emit(rec)).end
    return int(end)


def read_recorded(out: Path, located: Tuple[str, int, Optional[str]],
                  locations: Dict[str, Tuple[str, int, Optional[str]]],
                  ) -> Optional[Tuple[int, str, List[Tuple[str, str]], bytes]]:
    """(status, reason, headers, decoded body) of a response this capture wrote; a revisit is
    answered with its own headers and the original's body. None when it cannot be read."""
    from warcio.archiveiterator import ArchiveIterator

    def load(where: Tuple[str, int, Optional[str]]) -> Optional[Any]:
        try:
            fh = open(out / where[0], "rb")  # noqa: SIM115 - closed below, after reading
        except OSError:
            return None
        with fh:
            fh.seek(where[1])
            for rec in ArchiveIterator(fh):
                headers = rec.http_headers
                status = int(headers.get_statuscode() or 200) if headers else 200
                reason = ""
                pairs = list(headers.headers) if headers else []
                body = b"" if rec.rec_type == "revisit" else rec.content_stream().read()
                return status, reason, pairs, body
        return None

    got = load(located)
    if got is None:
        return None
    status, reason, pairs, body = got
    if located[2]:
        original = locations.get(located[2])
        if original is None or original[2]:
            return None
        base = load(original)
        if base is None:
            return None
        body = base[3]
    return status, reason, pairs, body
