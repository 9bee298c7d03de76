"""HTML to PDF with WeasyPrint, offline.

The report's charts are inline and its stylesheet is handed over as a file
(``stylesheets``), so the document itself never needs a URL: the fetcher below
refuses every scheme but ``data:``, which keeps a rendering from reaching the
network (or the file system) whatever the HTML contains.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

logger = logging.getLogger(__name__)


def _offline_fetcher(url: str, *args, **kwargs):
    if url.startswith("data:"):
        from weasyprint.urls import default_url_fetcher

        return default_url_fetcher(url, *args, **kwargs)
    logger.warning("PDF rendering refused to fetch %s", url)
    raise ValueError(f"External resources are not allowed in reports: {url}")


def html_to_pdf(html: str, *, stylesheets: Sequence[str] = ()) -> bytes:
    """Render an HTML document to PDF bytes, styled by the CSS files at the
    trusted paths ``stylesheets`` (read by the server, not fetched)."""
    from weasyprint import CSS, HTML

    sheets = [CSS(filename=path, url_fetcher=_offline_fetcher) for path in stylesheets]
    return HTML(string=html, url_fetcher=_offline_fetcher, base_url=".").write_pdf(
        stylesheets=sheets
    )
