"""HTML → PDF with Playwright's Chromium, one warm browser per process.

The browser starts lazily on the first PDF, is reused for every later one (each PDF gets a
fresh page), is restarted if it died, and is closed at worker shutdown. The executable comes
from ``settings.QM_CHROMIUM_PATH`` (the system chromium when present), else Playwright's own.
"""
from __future__ import annotations

import atexit
import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings

logger = logging.getLogger("qm.reports")

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-extensions"]


class PdfRenderError(Exception):
    pass


class _Browser:
    def __init__(self) -> None:
        self._playwright = None
        self._browser = None

    def get(self):
        if self._browser is not None and self._browser.is_connected():
            return self._browser
        self.close()
        from playwright.sync_api import sync_playwright

        self._playwright = sync_playwright().start()
        options = {"headless": True, "args": CHROMIUM_ARGS}
        if settings.QM_CHROMIUM_PATH:
            options["executable_path"] = settings.QM_CHROMIUM_PATH
        self._browser = self._playwright.chromium.launch(**options)
        return self._browser

    def close(self) -> None:
        for closer in (lambda: self._browser and self._browser.close(),
                       lambda: self._playwright and self._playwright.stop()):
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
            browser = _holder.get()
            page = browser.new_page()
            try:
                page.set_content(html, wait_until="load")
                return page.pdf(format=page_format, print_background=True,
                                margin={"top": "14mm", "bottom": "16mm", "left": "12mm", "right": "12mm"},
                                display_header_footer=True, header_template="<span></span>",
                                footer_template='<div style="font-size:8px;width:100%;text-align:center;'
                                                'color:#667">QuantMetrics · page <span class="pageNumber">'
                                                '</span> of <span class="totalPages"></span></div>')
            finally:
                page.close()
        except Exception as exc:
            logger.warning("PDF rendering failed (attempt %d): %s", attempt, exc)
            _holder.close()
            if attempt == 2:
                raise PdfRenderError(f"Chromium could not render the report: {exc}") from exc
    raise PdfRenderError("unreachable")


def html_to_pdf(html: str, *, page_format: str = "A4", timeout: float = 120) -> bytes:
    """Print ``html`` (self-contained: inline CSS and SVG) to PDF bytes in the warm browser."""
    return _get_executor().submit(_render, html, page_format).result(timeout=timeout)


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
