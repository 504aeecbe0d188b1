"""HTML → PDF with Playwright's Chromium, one warm browser per process.

The browser starts lazily on the first PDF, is reused for every later one (each PDF is a new
document in a warm page, see ``_Browser``), is restarted if it died, and is closed at worker
shutdown. The executable comes from ``settings.QM_CHROMIUM_PATH`` (the system chromium when
present), else Playwright's own.

Page size, margins and the page footer come from the document's ``@page`` rules (the report
template sets them from ``QM_REPORT_PAGE_SIZE``); ``page_format`` and ``DEFAULT_MARGIN_MM`` serve
documents without them.
"""

from __future__ import annotations

import atexit
import base64
import logging
import os
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from django.conf import settings

logger = logging.getLogger("qm.reports")

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--mute-audio",
]
PAGE_TIMEOUT_MS = 60_000
PDFS_PER_PAGE = 100
DEFAULT_MARGIN_MM = 12


class PdfRenderError(Exception):
    pass


def launch_options() -> dict:
    """Keyword arguments for ``playwright.chromium.launch`` (also used by the benchmark)."""
    options = {"headless": True, "args": CHROMIUM_ARGS}
    if settings.QM_CHROMIUM_PATH:
        options["executable_path"] = settings.QM_CHROMIUM_PATH
    return options


MM_PER_INCH = 25.4
# Paper sizes in inches (what Chromium's printToPDF takes) for documents without an @page size.
PAPER_INCHES = {"a4": (210 / MM_PER_INCH, 297 / MM_PER_INCH), "letter": (8.5, 11.0)}


@dataclass
class Tab:
    """A page of the browser and the DevTools session that prints in it."""

    page: Any  # playwright.sync_api.Page
    session: Any  # its CDPSession
    frame_id: str  # the page's main frame, whose document each PDF replaces


def new_page(browser) -> Tab:
    page = browser.new_page()
    page.set_default_timeout(PAGE_TIMEOUT_MS)
    session = page.context.new_cdp_session(page)
    return Tab(page, session, session.send("Page.getFrameTree")["frameTree"]["frame"]["id"])


# A printed document is never looked at on screen, yet Chromium lays it out for the screen when
# it loads and again when printing ends: for a 500-trade report that was a quarter of the print
# time (bench/report.py). Hidden from the screen, only the print layout is done.
SCREEN_HIDDEN = '<style media="screen">html{display:none}</style>'
_HEAD = re.compile(r"<head(?:\s[^>]*)?>", re.IGNORECASE)
_DOCTYPE = re.compile(r"\s*<!doctype[^>]*>", re.IGNORECASE)


def printable(html: str) -> str:
    """``html`` with ``SCREEN_HIDDEN`` at the start of its head (after a doctype when it has no
    head tag, so a standards-mode document stays in standards mode); print media is unchanged."""
    head = _HEAD.search(html, 0, 4096)
    at = head.end() if head else (doctype.end() if (doctype := _DOCTYPE.match(html)) else 0)
    return html[:at] + SCREEN_HIDDEN + html[at:]


def print_to_pdf(tab: Tab, html: str, page_format: str) -> bytes:
    """Replace the tab's document with ``html`` and print it, in two DevTools calls.

    ``Page.setDocumentContent`` parses the document before it returns (a report loads nothing,
    so it is complete), and ``Page.printToPDF`` answers with the PDF itself: Playwright's
    ``set_content`` and ``pdf`` take several more round trips through its driver (waiting for the
    load event, then reading the PDF as a stream), about 7 ms a PDF on this machine
    (bench/report.py's floor row prints through here too)."""
    tab.session.send("Page.setDocumentContent", {"frameId": tab.frame_id, "html": printable(html)})
    width, height = PAPER_INCHES[page_format.lower()]
    margin = DEFAULT_MARGIN_MM / MM_PER_INCH
    # The document's @page size and margins win over these, which serve documents without.
    printed = tab.session.send(
        "Page.printToPDF",
        {
            "paperWidth": width,
            "paperHeight": height,
            "marginTop": margin,
            "marginBottom": margin,
            "marginLeft": margin,
            "marginRight": margin,
            "printBackground": True,
            "preferCSSPageSize": True,
            "generateTaggedPDF": False,
            "generateDocumentOutline": False,
        },
    )
    return base64.b64decode(printed["data"])


def print_page(browser, html: str, page_format: str) -> bytes:
    """One PDF in a new page of ``browser`` (a Playwright sync Browser), closed afterwards."""
    tab = new_page(browser)
    try:
        return print_to_pdf(tab, html, page_format)
    finally:
        tab.page.close()


class _Browser:
    """The process's browser and its warm page; only ever touched from the rendering thread.

    Opening a page costs about as much as printing a 500-trade report here (170–250 ms each on
    a 2-core machine; bench/report.py), so a PDF does not open one: each PDF replaces the whole
    document of one warm page (``print_to_pdf``; reports carry no scripts and load nothing, so
    nothing of one report survives into the next). The
    page is replaced after ``PDFS_PER_PAGE`` PDFs (its renderer grows by about 1 MB a 500-trade
    PDF: 140 -> 420 MB over 300) and after any failure; the browser is relaunched when it has died.
    """

    def __init__(self) -> None:
        self._playwright = None
        self._browser = None
        self._page: Tab | None = None
        self._page_uses = 0
        self.launches = 0

    def get(self):
        if self._browser is not None and self._browser.is_connected():
            return self._browser
        self.close()
        from playwright.sync_api import sync_playwright

        started = time.perf_counter()
        self._playwright = sync_playwright().start()
        self._browser = self._playwright.chromium.launch(**launch_options())
        self.launches += 1
        logger.info(
            "Chromium %s started in %.0f ms (pid %s)",
            self._browser.version,
            (time.perf_counter() - started) * 1000,
            os.getpid(),
        )
        return self._browser

    def page(self) -> Tab:
        browser = self.get()
        if self._page is None or self._page.page.is_closed() or self._page_uses >= PDFS_PER_PAGE:
            self.drop_page()
            self._page = new_page(browser)
        self._page_uses += 1
        return self._page

    def drop_page(self) -> None:
        tab, self._page, self._page_uses = self._page, None, 0
        if tab is not None:
            try:
                tab.page.close()
            except Exception:  # the page or the browser is already gone
                logger.debug("ignoring error while closing a page", exc_info=True)

    def close(self) -> None:
        self.drop_page()
        for closer in (
            lambda: self._browser and self._browser.close(),
            lambda: self._playwright and self._playwright.stop(),
        ):
            try:
                closer()
            except Exception:  # a dead browser cannot be closed politely
                logger.debug("ignoring error while closing the browser", exc_info=True)
        self._browser = None
        self._playwright = None


# Playwright's sync API keeps an event loop running in the thread that started it, which
# Django's ORM refuses to share; so one dedicated thread per process owns the browser and
# every PDF is rendered there.
_executor: ThreadPoolExecutor | None = None
_holder = _Browser()
_executor_lock = threading.Lock()


def _forget_after_fork() -> None:
    """A forked child (a prefork worker) has no copy of the rendering thread or the browser:
    start its own lazily instead of waiting forever on the parent's."""
    global _executor, _holder, _executor_lock
    _executor, _holder, _executor_lock = None, _Browser(), threading.Lock()


os.register_at_fork(after_in_child=_forget_after_fork)


def _get_executor() -> ThreadPoolExecutor:
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qm-chromium")
            atexit.register(shutdown_browser)
        return _executor


def _render(html: str, page_format: str) -> bytes:
    for attempt in (1, 2):
        try:
            return print_to_pdf(_holder.page(), html, page_format)
        except Exception as exc:
            logger.warning("PDF rendering failed (attempt %d): %s", attempt, exc)
            _holder.close()  # a crashed or hung browser is replaced on the next attempt
            if attempt == 2:
                raise PdfRenderError(f"Chromium could not render the report: {exc}") from exc
    raise PdfRenderError("unreachable")


def html_to_pdf(html: str, *, page_format: str = "A4", timeout: float = 120) -> bytes:
    """Print ``html`` (self-contained: inline CSS and SVG) to PDF bytes in the warm browser;
    ``page_format`` (A4 or Letter) serves a document without an @page size."""
    if page_format.lower() not in PAPER_INCHES:
        raise ValueError(f"unknown page format {page_format!r}: A4 or Letter")
    return _get_executor().submit(_render, html, page_format).result(timeout=timeout)


def browser_launches() -> int:
    """How many times this process has started Chromium (1 while it stays warm)."""
    return _holder.launches


def shutdown_browser() -> None:
    """Close the browser (worker shutdown); the next PDF starts a new one."""
    global _executor
    with _executor_lock:
        executor, _executor = _executor, None
    if executor is None:
        return
    try:
        executor.submit(_holder.close).result(timeout=30)
    except RuntimeError:
        # At interpreter exit concurrent.futures has already stopped its threads; the
        # browser process goes with the Playwright driver.
        pass
    finally:
        executor.shutdown(wait=True)
