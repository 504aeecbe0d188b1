"""Real Chromium for page tests: open a page as a user, and record what it did.

``PageAudit`` opens each page in a fresh tab of one browser context and records every request
the page made (``requests``), console errors and uncaught exceptions (``errors``) and, with
axe-core injected before any page script (an init script, which the Content-Security-Policy
does not block, so pages run under their real CSP), the accessibility violations of impact
``serious`` or ``critical``, and how far the page sticks out sideways. axe-core comes from npm
(package.json; ``npm ci`` in scripts/setup.sh).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = ROOT / "var" / "screenshots" / "audit"
SERIOUS = ("serious", "critical")
# What axe-core checks: WCAG 2.1 A and AA, and its best practices.
AXE_OPTIONS = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]}}


@dataclass
class Visit:
    path: str
    status: int | None = None
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    violations: list[dict] = field(default_factory=list)
    overflow: int = 0  # px the page sticks out sideways at the context's width

    def sideways(self) -> list[str]:
        return [f"{self.overflow} px wider than the window"] if self.overflow > 0 else []

    def foreign_requests(self, origin: str) -> list[str]:
        """Requests to anything but ``origin`` (data: and blob: URLs stay in the page)."""
        return [url for url in self.requests if not url.startswith((origin + "/", "data:", "blob:"))]


def wait_until(page, expression: str, timeout: float = 30) -> None:
    """Poll a JavaScript expression (through the debugger: the CSP forbids eval)."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise TimeoutError(f"not true after {timeout} s: {expression}")
        page.wait_for_timeout(100)


class PageAudit:
    """One browser context (cookies shared: log in once); ``visit`` opens a path in a new tab."""

    def __init__(self, playwright, base_url: str, *, width: int = 1366, height: int = 900):
        from reports.pdf import launch_options

        if not AXE.exists():
            raise RuntimeError(f"{AXE} is missing: run `npm ci` (scripts/setup.sh does)")
        self.base_url = base_url.rstrip("/")
        self.browser = playwright.chromium.launch(**launch_options())
        self.context = self.browser.new_context(viewport={"width": width, "height": height})
        self.context.add_init_script(path=str(AXE))

    def close(self) -> None:
        self.browser.close()

    def log_in(self, username: str, password: str) -> None:
        page = self.context.new_page()
        page.goto(f"{self.base_url}/accounts/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", password)
        page.click("button[type=submit]")
        page.wait_for_load_state()
        page.close()

    def visit(self, path: str, *, ready: str | None = None, axe: bool = True, screenshot: str = "") -> Visit:
        """Open ``path``, wait for the load (and the ``ready`` selector), run axe, close."""
        visit = Visit(path)
        page = self.context.new_page()
        page.set_default_timeout(30_000)
        page.on("request", lambda request: visit.requests.append(request.url))
        page.on("console", lambda msg: msg.type == "error" and visit.errors.append(f"console: {msg.text}"))
        page.on("pageerror", lambda exc: visit.errors.append(f"uncaught: {exc}"))
        try:
            response = page.goto(f"{self.base_url}{path}", wait_until="load")
            visit.status = response.status if response else None
            if ready:
                page.wait_for_selector(ready)
            page.wait_for_timeout(300)  # scripts that run after load (polling, charts) get a moment
            visit.overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            if axe:
                visit.violations = page.evaluate(
                    """async (options) => (await axe.run(document, options)).violations
                        .filter((v) => ["serious", "critical"].includes(v.impact))
                        .map((v) => ({id: v.id, impact: v.impact, help: v.help,
                                      nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" "))}))""",
                    AXE_OPTIONS,
                )
            if screenshot:
                SCREENSHOTS.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(SCREENSHOTS / f"{screenshot}.png"), full_page=True)
        finally:
            page.close()
        return visit


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
