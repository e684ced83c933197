"""The built HTML book, loaded page by page in headless Chromium (selenium + chromedriver).

Run by ``make test`` after a fast-mode book build: the Makefile sets ``IGOS_BOOK_HTML`` to
the built ``html/`` folder. Without that variable the module is skipped (plain
``pytest`` on a machine with no built book); with it, a missing browser or an empty
build is an error, never a skip. Screenshots land in ``test-artifacts/screenshots/``.
"""
from __future__ import annotations

import functools
import http.server
import json
import os
import re
import shutil
import threading
from pathlib import Path

import pytest

HTML = os.environ.get("IGOS_BOOK_HTML")
pytestmark = pytest.mark.skipif(not HTML, reason="set IGOS_BOOK_HTML to a built book (make test does)")
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "screenshots"
REPO_URL = "https://github.com/igos-book/igos"


def pages() -> list[str]:
    if not HTML:
        return []
    html = Path(HTML)
    found = sorted(str(p.relative_to(html)) for p in (html / "book").glob("*.html"))
    return found


@pytest.fixture(scope="module")
def server():
    html = Path(HTML)
    assert (html / "index.html").is_file(), f"no built book at {html}"
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(html))
    handler.log_message = lambda *a, **k: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver_path = shutil.which("chromedriver")
    assert binary and driver_path, "headless Chromium and chromedriver are needed (apt-get install chromium chromium-driver)"
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1600",
                "--disable-background-networking", "--disable-component-update", "--no-first-run"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(60)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    yield driver
    driver.quit()


def wait_for(driver, script: str, timeout: float = 20.0):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(lambda d: d.execute_script(script))


def test_there_are_pages():
    assert len(pages()) >= 2, f"expected the landing page and at least one chapter in {HTML}"


@pytest.mark.parametrize("page", pages())
def test_page(page, server, browser):
    browser.get(f"{server}/{page}")
    wait_for(browser, "return document.readyState === 'complete'")
    # Math: every math element is typeset by MathJax (served from _static, no network).
    n_math = browser.execute_script("return document.querySelectorAll('.math').length")
    if n_math:
        wait_for(browser, "return document.querySelectorAll('.math').length === "
                          "document.querySelectorAll('.math mjx-container').length", timeout=30)
    text = browser.execute_script("return document.querySelector('main').innerText")
    assert not re.search(r"\\(frac|begin\{|sum_|mathbb)", text), f"{page}: raw TeX left on the page"
    # Images: every <img> decoded with a non-zero size.
    browser.execute_script("window.scrollTo(0, document.body.scrollHeight)")
    wait_for(browser, "return Array.from(document.images).every(i => i.complete)")
    broken = browser.execute_script(
        "return Array.from(document.images).filter(i => i.naturalWidth === 0).map(i => i.src)")
    assert not broken, f"{page}: images that did not load: {broken}"
    # No page errors, no request leaving the machine.
    logs = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert not logs, f"{page}: console errors: {json.dumps(logs, indent=1)[:2000]}"
    outside = browser.execute_script(
        "return performance.getEntriesByType('resource').map(r => r.name)"
        ".filter(n => !n.startsWith(location.origin) && !n.startsWith('data:'))")
    assert not outside, f"{page}: requests outside the book: {outside}"
    # Launch button: chapters open their own notebook in Colab.
    if page.startswith("book/") and page.endswith(".html") and Path(HTML, page).stem[:1].isdigit():
        name = Path(page).stem
        href = browser.execute_script(
            "const a = Array.from(document.querySelectorAll('a')).find(a => a.href.includes('colab.research.google.com'));"
            "return a ? a.href : null")
        assert href == f"https://colab.research.google.com/github/{REPO_URL.split('github.com/')[1]}/blob/main/book/{name}.ipynb"
    browser.save_screenshot(str(ARTIFACTS / (page.replace("/", "_").replace(".html", ".png"))))


def test_explorer_static_state_renders(server, browser):
    page = "book/90_explorer.html"
    if not Path(HTML, page).is_file():
        pytest.fail("the explorer chapter was not built")
    browser.get(f"{server}/{page}")
    wait_for(browser, "return document.querySelectorAll('.widget-dropdown, .jupyter-widgets select').length > 0",
             timeout=30)
    wait_for(browser, "return document.querySelectorAll('.widget-output img, .jupyter-widgets-output-area img').length > 0",
             timeout=30)
    n = browser.execute_script("return document.querySelectorAll('.widget-dropdown').length")
    assert n >= 4, f"expected the photo/model/method/resolution/layer menus, found {n}"
    browser.save_screenshot(str(ARTIFACTS / "explorer_widget.png"))
