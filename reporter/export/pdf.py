"""HTML -> PDF with WeasyPrint, allowed to read `data:` URIs only.

WeasyPrint's default fetcher reads `file://` URLs, makes HTTP requests and embeds local
files as attachments (`<link rel=attachment>`); a report built from user-controlled MLflow
text must do none of these, so every other URL is refused.
"""

from __future__ import annotations

import hashlib
import logging

from reporter.errors import ExportError


def _data_only_fetcher():  # -> weasyprint.urls.URLFetcher
    from weasyprint.urls import URLFetcher

    return URLFetcher(allowed_protocols={"data"}, timeout=5)


def export_pdf(html: str) -> bytes:
    """The PDF of a report's HTML. Same HTML in, same bytes out (the PDF id is its hash)."""
    import weasyprint

    # WeasyPrint logs every refused URL at ERROR level; the refusal is the intended behaviour.
    logging.getLogger("weasyprint").setLevel(logging.CRITICAL)
    identifier = hashlib.sha256(html.encode("utf-8")).hexdigest()[:32].encode("ascii")
    try:
        document = weasyprint.HTML(string=html, url_fetcher=_data_only_fetcher(), base_url=None)
        return document.write_pdf(pdf_identifier=identifier, uncompressed_pdf=False)
    except Exception as exc:  # WeasyPrint raises many types; the user needs one line
        raise ExportError(
            f"PDF rendering failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        ) from None
