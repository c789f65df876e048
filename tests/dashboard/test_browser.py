"""The dashboard in a real headless Chromium (the ``browser`` fixture of tests/conftest.py).

Skipped locally when either is missing; a failure when CI=true. Writes
screenshots of a test's page to test-artifacts/dashboard-test-page.png
(without a plan) and dashboard-experiment-page.png (a declared experiment),
of the Overview (dashboard-overview-page.png) and of a funnel per population
of a test (dashboard-funnels-page.png); the run's summary names them.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from manhattan.analysis.wording import verdict
from manhattan.dashboard import make_app, make_server
from tests.dashboard.conftest import (
    BUTTON,
    CHECKOUT,
    EVIL_POPULATION,
    EVIL_TEST,
    PLANNED,
    SCREENSHOTS,
    Backend,
)

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
SCREENSHOT = ARTIFACTS / "dashboard-test-page.png"
EXPERIMENT_SCREENSHOT = ARTIFACTS / "dashboard-experiment-page.png"
OVERVIEW_SCREENSHOT = ARTIFACTS / "dashboard-overview-page.png"
FUNNELS_SCREENSHOT = ARTIFACTS / "dashboard-funnels-page.png"


@pytest.fixture(scope="module")
def base_url(backend: Backend) -> Iterator[str]:
    """The dashboard, served on 127.0.0.1 from a thread."""
    with make_app(backend.address, wait=5000) as app:
        server = make_server(app, "127.0.0.1", 0, quiet=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_port}"
        finally:
            server.shutdown()
            server.server_close()
            thread.join(5)


def load(browser: Any, url: str) -> None:
    """Load ``url`` and check the console stayed free of errors."""
    browser.get_log("browser")  # drop what earlier pages left
    browser.get(url)
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == [], errors


def values(browser: Any, selector: str) -> list[tuple[str, str, str, str]]:
    """(goal, population, field, data-value) of the cells ``selector`` finds."""
    from selenium.webdriver.common.by import By

    found = []
    for row in browser.find_elements(By.CSS_SELECTOR, "table.analysis tbody tr"):
        for cell in row.find_elements(By.CSS_SELECTOR, selector):
            found.append(
                (
                    row.get_attribute("data-goal"),
                    row.get_attribute("data-population"),
                    cell.get_attribute("data-field"),
                    cell.get_attribute("data-value"),
                )
            )
    return found


def test_test_page_shows_the_numbers_of_analyze(
    browser: Any, base_url: str, backend: Backend
) -> None:
    from selenium.webdriver.common.by import By

    load(browser, f"{base_url}/test?name={quote(BUTTON)}")
    analysis = backend.client.analyze(BUTTON)
    shown = values(browser, "[data-field][data-value]")
    checked = 0
    for goal, population, field, value in shown:
        entry = analysis["goals"][goal]["populations"][population]
        if field in ("visitors", "conversions"):
            assert int(value) == entry[field]
            checked += 1
        elif field in ("rate", "p_value_holm", "chance_to_beat_control"):
            assert float(value) == entry[field]
            checked += 1
    assert checked >= 3 * len(analysis["goals"]) * len(analysis["populations"])
    # The visible text is the same number, formatted.
    cell = browser.find_element(
        By.CSS_SELECTOR,
        'tr[data-goal="Added To Cart"][data-population="gold"] [data-field="rate"]',
    )
    gold = analysis["goals"]["Added To Cart"]["populations"]["gold"]["rate"]
    assert cell.text == f"{gold:.2%}"
    charts = browser.find_elements(By.CSS_SELECTOR, "figure[data-chart] svg.chart")
    assert len(charts) == len(analysis["goals"])
    assert charts[0].size["width"] > 300  # drawn, not collapsed
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(SCREENSHOT))
    SCREENSHOTS.append(SCREENSHOT)  # named at the end of the test run's output
    assert SCREENSHOT.stat().st_size > 10_000


def test_tests_and_goals_pages_load_cleanly(browser: Any, base_url: str, backend: Backend) -> None:
    from selenium.webdriver.common.by import By

    load(browser, f"{base_url}/")
    rows = browser.find_elements(By.CSS_SELECTOR, "table.tests tbody tr")
    assert [row.get_attribute("data-test") for row in rows] == [
        test["name"] for test in backend.client.tests()
    ]
    # The evil test name is text: no script ran (it would have logged nothing,
    # but an alert would block the next command), and it links to its page.
    link = browser.find_element(By.LINK_TEXT, EVIL_TEST)
    link.click()
    assert browser.find_element(By.TAG_NAME, "h1").text == EVIL_TEST
    assert EVIL_POPULATION in browser.find_element(By.CSS_SELECTOR, "table.analysis").text
    for rollup in ("day", "week", "month", "browser", "referrer", "all"):
        load(browser, f"{base_url}/goals?rollup={rollup}")
        assert browser.find_elements(By.CSS_SELECTOR, "table.goals tbody tr")
    load(browser, f"{base_url}/goals?rollup=day&site=2")
    assert browser.find_element(By.CSS_SELECTOR, 'nav.sites a[aria-current="page"]').text == "2"


def test_an_experiment_page_leads_with_its_plan_progress_and_verdict(
    browser: Any, base_url: str, backend: Backend
) -> None:
    from selenium.webdriver.common.by import By

    load(browser, f"{base_url}/test?name={quote(PLANNED)}")
    said = verdict(backend.client.analyze(PLANNED))
    plan = browser.find_element(By.CSS_SELECTOR, "section.plan")
    headline = browser.find_element(By.CSS_SELECTOR, 'section.verdict [data-field="verdict"]')
    table = browser.find_element(By.CSS_SELECTOR, "table.analysis")
    # Seen first, in this order, before the table.
    assert plan.location["y"] < headline.location["y"] < table.location["y"]
    assert plan.is_displayed()
    assert headline.text == said.headline
    assert said.progress is not None
    bar = plan.find_element(By.CSS_SELECTOR, "progress")
    assert bar.size["width"] > 100  # drawn, not collapsed
    assert float(bar.get_attribute("value")) == said.progress.visitors
    assert said.progress.text in plan.text
    for label, value in said.plan:
        assert f"{label}\n{value}" in plan.text
    warnings = browser.find_elements(By.CSS_SELECTOR, '[data-field="warning"]')
    assert [warning.text for warning in warnings] == list(said.warnings)
    assert all(warning.is_displayed() for warning in warnings)
    assert browser.save_screenshot(str(EXPERIMENT_SCREENSHOT))
    SCREENSHOTS.append(EXPERIMENT_SCREENSHOT)
    assert EXPERIMENT_SCREENSHOT.stat().st_size > 10_000


def screenshot(browser: Any, path: Path) -> None:
    """The whole page (as tall as its content) to ``path``, named in the summary."""
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1400, max(1000, min(int(height) + 40, 6000)))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        assert browser.save_screenshot(str(path))
    finally:
        browser.set_window_size(1400, 1000)
    SCREENSHOTS.append(path)
    assert path.stat().st_size > 10_000


def test_overview_page_shows_the_queries_numbers(
    browser: Any, base_url: str, backend: Backend
) -> None:
    from selenium.webdriver.common.by import By

    load(browser, f"{base_url}/overview")
    client = backend.client
    live = browser.find_element(By.CSS_SELECTOR, '.tile[data-field="live"]')
    assert "not available" in live.text  # the fixture's server only answers queries
    visitors = browser.find_element(By.CSS_SELECTOR, '.tile[data-field="visitors"] strong')
    assert visitors.text == f"{client.count('viewed page'):,}"
    chart = browser.find_element(By.CSS_SELECTOR, 'figure[data-chart="daily"] svg.chart')
    assert chart.size["width"] > 300  # drawn, not collapsed
    for table, expected in (
        ("pages", [row[0] for row in client.pages(limit=20)]),
        ("entry_pages", [row[0] for row in client.entry_pages(limit=20)]),
    ):
        paths = browser.find_elements(
            By.CSS_SELECTOR, f'section[data-table="{table}"] td[data-field="path"]'
        )
        assert [cell.text for cell in paths] == expected
    campaigns = client.breakdown("utm_campaign", ["viewed page"], order="visitors", limit=10)
    shown = browser.find_elements(
        By.CSS_SELECTOR, 'section[data-table="utm_campaign"] td[data-field="bucket"]'
    )
    assert sorted(cell.text for cell in shown) == sorted(campaigns)
    # Every table has its CSV link, visible next to its heading.
    sections = browser.find_elements(By.CSS_SELECTOR, "section[data-table]")
    assert len(sections) == 8
    for section in sections:
        link = section.find_element(By.CSS_SELECTOR, "h2 a.csv")
        assert link.is_displayed()
        assert "/overview.csv?table=" in link.get_attribute("href")
    screenshot(browser, OVERVIEW_SCREENSHOT)


def test_funnels_page_splits_by_a_test_chosen_in_its_form(
    browser: Any, base_url: str, backend: Backend
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    load(browser, f"{base_url}/funnels")
    steps = backend.client.funnel(CHECKOUT)
    bars = browser.find_elements(By.CSS_SELECTOR, "svg.funnel g.step rect.bar")
    assert len(bars) == len(steps)
    widths = [bar.size["width"] for bar in bars]
    assert widths == sorted(widths, reverse=True)  # fewer reach each later step
    assert widths[0] > 300
    Select(browser.find_element(By.NAME, "test")).select_by_value(BUTTON)
    browser.find_element(By.CSS_SELECTOR, "form.choose button").click()
    populations = next(t for t in backend.client.tests() if t["name"] == BUTTON)["populations"]
    figures = browser.find_elements(By.CSS_SELECTOR, "figure[data-population]")
    assert [figure.get_attribute("data-population") for figure in figures] == populations
    for figure, population in zip(figures, populations, strict=True):
        counts = backend.client.funnel(CHECKOUT, (BUTTON, population))
        groups = figure.find_elements(By.CSS_SELECTOR, "g.step")
        assert [int(g.get_attribute("data-value")) for g in groups] == [n for _, n in counts]
    assert "test=Button+color" in browser.current_url
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == [], errors
    screenshot(browser, FUNNELS_SCREENSHOT)
