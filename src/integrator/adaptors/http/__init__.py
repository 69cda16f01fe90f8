"""The HTTP adaptor (modern ``http`` and legacy ``rest`` exports): paging, records, pages.

The network client (auth, retries) lives in ``client.py``; the export walker takes a ``send``
function so it can run against the client, a fake, or anything that answers ``PageRequest``.
"""

from integrator.adaptors.http.pages import (
    DEFAULT_MAX_PAGES,
    DEFAULT_PAGE_SIZE,
    Send,
    iter_api_pages,
    iter_pages,
)
from integrator.adaptors.http.paging import (
    PAGINATORS,
    PageRequest,
    PageResponse,
    Paginator,
    paginator_for,
    paging_settings,
)
from integrator.adaptors.http.records import (
    ExportError,
    PagingLimitError,
    PagingLoopError,
    check_response,
    extract_records,
)

__all__ = [
    "DEFAULT_MAX_PAGES",
    "DEFAULT_PAGE_SIZE",
    "PAGINATORS",
    "ExportError",
    "PageRequest",
    "PageResponse",
    "Paginator",
    "PagingLimitError",
    "PagingLoopError",
    "Send",
    "check_response",
    "extract_records",
    "iter_api_pages",
    "iter_pages",
    "paginator_for",
    "paging_settings",
]
