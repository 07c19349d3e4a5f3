"""Domain sets in a real browser: upload a CSV of domains, see the match report with its
chart and numbers, the entries filtered by status, and a suggested account used; both
themes photographed."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from pivotal_core.accounts.services import create_account
from pivotal_core.audit.services import Actor

pytestmark = pytest.mark.browser

expect = pytest.importorskip("playwright.sync_api").expect
_runs = itertools.count(1)


def _screenshot(page, folder: Path, name: str, theme: str) -> None:
    expect(page.locator("html")).to_have_attribute("data-theme", theme)
    page.evaluate("document.fonts.ready.then(() => true)")
    page.screenshot(path=folder / f"{name}-{theme}.png", full_page=True)


def _accounts(live_server, n: int) -> dict[str, int]:
    """Three accounts of this run's own: two matched by the file, one only suggested."""
    actor = Actor.system("test")
    with live_server.session() as session:
        made = {
            "north": create_account(
                session,
                actor,
                {
                    "name": f"Northwind Traders {n}",
                    "domain": f"northwind{n}.com",
                    "secondary_domains": [f"northwind-shop{n}.io"],
                },
            ),
            "contoso": create_account(
                session, actor, {"name": f"Contoso {n}", "domain": f"contoso{n}.co.uk"}
            ),
            "fabrikam": create_account(
                session, actor, {"name": f"Fabrikam Industries {n}", "domain": f"fab{n}.com"}
            ),
        }
        session.commit()
        return {key: account.id for key, account in made.items()}


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_upload_a_domain_set_and_see_its_match_report(
    new_page, live_server, screenshots, tmp_path, theme
):
    n = next(_runs)
    ids = _accounts(live_server, n)
    targets = tmp_path / f"abm-{n}.csv"
    targets.write_text(
        "Company,Website,Owner\n"
        f"Northwind,https://www.northwind{n}.com/about,ann\n"
        f"Northwind shop,shop.northwind-shop{n}.io,ann\n"
        f"Contoso,CONTOSO{n}.CO.UK,bo\n"
        f"Contoso again,http://contoso{n}.co.uk,bo\n"
        f"Fabrikam,fabrikamindustries{n}.com,cy\n"
        f"Unknown,nobody-knows-{n}.org,cy\n"
        "Broken,not a website,cy\n"
        "Local,localhost,cy\n",
        encoding="utf-8",
    )
    page = new_page("admin", theme)
    page.goto("/domain-sets")
    expect(page.get_by_role("heading", name="Domain sets", exact=True)).to_be_visible()
    page.get_by_role("link", name="Upload domains").click()
    page.locator("#f-name").fill(f"ABM targets {n}")
    page.locator("#f-file").set_input_files(str(targets))
    _screenshot(page, screenshots, "domain-set-upload", theme)
    page.get_by_role("button", name="Upload and match").click()

    expect(page.get_by_role("heading", name="Match report")).to_be_visible()
    counts = page.locator(".match-counts")
    for status, value in (
        ("matched", "3"),
        ("unmatched", "2"),
        ("invalid", "2"),
        ("duplicate", "1"),
    ):
        expect(counts.locator(f"[data-count='{status}'] td.num").first).to_have_text(value)
    expect(page.locator("[data-match-rate]")).to_have_text("60.0%")
    expect(page.locator("canvas#match-chart")).to_have_attribute("data-drawn", "1")
    chart_slices = page.evaluate(
        "Chart.getChart(document.getElementById('match-chart')).data.datasets[0].data"
    )
    assert chart_slices == [3, 2, 2, 1]
    suggestion = page.locator(f"#suggestions tr[data-account='{ids['fabrikam']}']")
    expect(suggestion).to_contain_text(f"Fabrikam Industries {n}")
    _screenshot(page, screenshots, "domain-set-report", theme)

    page.get_by_role("link", name="Invalid").first.click()
    rows = page.locator("#entries tr[data-line]")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("is not a valid domain name")

    suggestion.get_by_role("button", name="Use this account").click()
    expect(page.locator(".flash-success")).to_contain_text(f"Matched fabrikamindustries{n}.com")
    expect(page.locator("[data-match-rate]")).to_have_text("80.0%")
    chart_slices = page.evaluate(
        "Chart.getChart(document.getElementById('match-chart')).data.datasets[0].data"
    )
    assert chart_slices == [4, 1, 2, 1]

    page.goto("/domain-sets")
    row = page.locator("tr", has_text=f"ABM targets {n}")
    expect(row.locator("[data-match-rate]")).to_have_text("80.0%")
    _screenshot(page, screenshots, "domain-sets", theme)
