"""HTML to PDF with WeasyPrint, offline.

The report's stylesheet and charts are inline, so the renderer never needs a
URL: the fetcher below refuses every scheme but ``data:``, which keeps a
rendering from reaching the network (or the file system) whatever the HTML
contains.
"""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)


def _offline_fetcher(url: str, *args, **kwargs):
    if url.startswith("data:"):
        from weasyprint.urls import default_url_fetcher

        return default_url_fetcher(url, *args, **kwargs)
    logger.warning("PDF rendering refused to fetch %s", url)
    raise ValueError(f"External resources are not allowed in reports: {url}")


def html_to_pdf(html: str) -> bytes:
    """Render a self-contained HTML document to PDF bytes."""
    from weasyprint import HTML

    return HTML(string=html, url_fetcher=_offline_fetcher, base_url=".").write_pdf()
