"""The catalogue and try-it page in a real browser: Playwright driving Debian's Chromium against gunicorn.

Never downloads a browser: it launches /usr/bin/chromium (apt packages `chromium`, `chromium-driver`) and skips
with a clear message when that or the playwright package is missing. Screenshots go to tests/artifacts/.
"""

import shutil
from pathlib import Path

import pytest

from tests.servers import request, running_gunicorn

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install -r requirements-dev.txt)"
)
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="no /usr/bin/chromium: apt-get install chromium to run the browser test (CI installs it in .ci/run)",
    ),
]


@pytest.fixture(scope="module")
def server():
    with running_gunicorn(workers=1) as (base, _process):
        yield base


@pytest.fixture
def page(tmp_path):
    profile = tmp_path / "chromium-profile"
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900},
        )
        try:
            yield context.new_page()
        finally:
            context.close()
            shutil.rmtree(profile, ignore_errors=True)


def _screenshot(target, name):
    """A page's viewport or one element (a full-page shot of the long catalogue nears Chromium's size limit)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    target.screenshot(path=str(path))
    print(f"screenshot: {path}")
    return path


def test_catalogue_lists_every_rule_from_the_api(server, page):
    status, _, body = request(server, "/v1/rules")
    assert status == 200
    api_ids = [rule["id"] for rule in body["rules"]]
    response = page.goto(server + "/")
    assert response.status == 200
    assert page.locator("html").get_attribute("lang") == "en"
    shown = page.locator("article.rule .rule-id").all_inner_texts()
    assert shown == api_ids
    for rule in body["rules"]:
        article = page.locator(f"article#rule-{rule['id']}")
        assert rule["code"] in article.inner_text()
    assert page.get_by_role("heading", level=1).count() == 1
    assert page.get_by_label("Medications, one per line").is_visible()
    _screenshot(page, "catalogue.png")


def test_pasted_opioid_list_shows_the_opioid_use_alert(server, page):
    page.goto(server + "/")
    page.get_by_label("Medications, one per line").fill(
        "naltrexone 4.5 mg capsule, take 1 at bedtime\nproposed: oxyCODONE 5 mg tablet every 6 hours as needed\n"
        "frobnitol 20 mg"
    )
    page.get_by_label("Check date").fill("2026-11-25")
    page.get_by_role("button", name="Check the list").click()
    page.wait_for_load_state()
    results = page.locator("#results")
    assert results.is_visible()
    alerts = page.locator("#results article.alert")
    codes = alerts.locator("dd code").all_inner_texts()
    assert "opioid-use" in codes
    opioid = alerts.filter(has_text="opioid-use")
    assert opioid.locator(".badge").inner_text().lower() == "high"
    # what the service understood: the made-up name is shown as not recognized
    row = page.locator("#results tbody tr").filter(has_text="frobnitol")
    assert "no" in row.locator("td").nth(2).inner_text()
    # the raw JSON is there, folded away
    page.get_by_text("The raw JSON response").click()
    assert '"code": "opioid-use"' in page.locator("#results details pre").inner_text()
    path = _screenshot(results, "try-it-opioid.png")
    assert path.stat().st_size > 10_000
