"""The web interface in a real headless browser (Debian's chromium through chromedriver, driven by
Selenium), with JavaScript switched off, as the main flows are used: search, open a story, mark it
not relevant, add a source, on each backend (tests/test_web_http.py's site). Skipped, with the
reason, where no browser can be had; .ci/run installs Debian's chromium and chromium-driver."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.support.backends import module_backend  # noqa: F401  (fixture)
from tests.support.postgres import postgres_server  # noqa: F401  (fixture)
from tests.support.server import Reply
from tests.support.webserver import WebProcess
from tests.test_web_http import FEED, SITE, own_site, site  # noqa: F401  (fixtures)

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
DRIVERS = ("chromedriver",)


def _find(names: tuple[str, ...], extra: tuple[str, ...] = ()) -> str | None:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return next((path for path in extra if Path(path).is_file()), None)


@pytest.fixture(scope="module")
def browser():
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (the test extra has it)")
    binary = _find(BROWSERS)
    driver_path = _find(DRIVERS, ("/usr/lib/chromium/chromedriver",))
    if binary is None or driver_path is None:
        pytest.skip("no headless browser: install Debian's chromium and chromium-driver "
                    "(apt-get install chromium chromium-driver; .ci/run does)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,1600", "--disable-extensions", "--no-first-run"):
        options.add_argument(argument)
    # The interface must work without JavaScript: the browser runs none.
    options.add_experimental_option("prefs", {"profile.managed_default_content_settings.javascript": 2})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def by_css(driver, selector: str):
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, selector)


def click_and_wait(driver, element, timeout: float = 30) -> None:
    """Click what submits a form or follows a link, and wait until the next page has replaced this one."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    page = driver.find_element("css selector", "html")
    element.click()
    # Asked mid-navigation, chromium may answer "Node with given id does not belong to the
    # document" rather than that the element is stale: asked again, it says stale.
    WebDriverWait(driver, timeout, ignored_exceptions=(WebDriverException,)).until(
        expected_conditions.staleness_of(page))
    WebDriverWait(driver, timeout).until(lambda d: d.find_elements("css selector", "footer"))  # read to its end


def policy_violations(driver) -> list[str]:
    """Console lines about the Content-Security-Policy (an inline style or script would make one)."""
    return [entry["message"] for entry in driver.get_log("browser") if "Content Security Policy" in entry["message"]]


def test_search_then_open_a_story(browser, own_site):
    with WebProcess(own_site.config) as web:
        browser.get(web.url("/"))
        every = len(by_css(browser, "li.story"))
        assert every >= 5
        [field] = by_css(browser, "input#q")
        field.send_keys("Berdiansk")
        click_and_wait(browser, by_css(browser, "form.filters .search button")[0])
        stories = by_css(browser, "li.story")
        assert len(stories) == 1 and "Berdiansk" in stories[0].text
        assert "1 story" in by_css(browser, "#count")[0].text
        # The title with a <script> element reads as text, and ran nothing.
        assert stories[0].find_element("css selector", "h2 a.open").text.startswith("<script>alert(1)</script>")
        click_and_wait(browser, stories[0].find_element("css selector", "h2 a.open"))
        assert "/stories/" in browser.current_url
        assert browser.find_element("css selector", "h1").text.startswith("<script>alert(1)</script> Children")
        assert "Why it matched" in browser.page_source and "Copies (1)" in browser.page_source
        outbound = browser.find_element("css selector", "p.link a.out")
        assert outbound.get_attribute("rel") == "noopener noreferrer"
        assert outbound.get_attribute("href").startswith("https://herald.example/")
        assert policy_violations(browser) == []


def test_mark_a_story_not_relevant_and_it_leaves_the_list(browser, own_site):
    with WebProcess(own_site.config) as web:
        browser.get(web.url("/"))
        first = by_css(browser, "li.story h2 a.open")[0]
        title = first.text
        click_and_wait(browser, first)
        if "this monitor does not have yet" in browser.page_source:
            pytest.skip("no label store in this checkout (monitor/labels.py): triage cannot be stored")
        browser.find_element("css selector", "input[name=label][value=not_relevant]").click()
        browser.find_element("css selector", "textarea#note").send_keys("about adults, not children")
        click_and_wait(browser, browser.find_element("css selector", "section.triage button[type=submit]"))
        assert "Saved." in browser.page_source and "about adults, not children" in browser.page_source
        browser.get(web.url("/"))
        assert title not in [a.text for a in by_css(browser, "li.story h2 a.open")]
        browser.get(web.url("/?label=not_relevant"))
        assert [a.text for a in by_css(browser, "li.story h2 a.open")] == [title]
        assert policy_violations(browser) == []


def test_add_a_source_from_the_sources_page(browser, own_site):
    own_site.server.route("/browser/feed.xml", Reply(body=(SITE / "ledger-rss2-later.xml").read_bytes(), headers=FEED))
    with WebProcess(own_site.config) as web:
        browser.get(web.url("/sources"))
        browser.find_element("css selector", "input#url").send_keys(own_site.server.url("/browser/feed.xml"))
        browser.find_element("css selector", "input#name").send_keys("Browser Outlet")
        click_and_wait(browser, browser.find_element("css selector", "button[value=preview]"))
        assert "name: Browser Outlet" in browser.find_element("css selector", ".proposal pre").text
        assert "Browser Outlet" not in own_site.config.read_text("utf-8")
        click_and_wait(browser, browser.find_element("css selector", "button[value=add]"))
        assert "Added source “Browser Outlet”" in browser.page_source
        names = [cell.text for cell in by_css(browser, "table.sources tbody td:first-child a")]
        assert "Browser Outlet" in names
        assert "name: Browser Outlet" in own_site.config.read_text("utf-8")
        assert "# the local site's outlets" in own_site.config.read_text("utf-8")
        assert policy_violations(browser) == []
