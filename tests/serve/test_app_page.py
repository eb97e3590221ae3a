"""The web page in a real browser (Playwright driving Debian's chromium, which `make test`
installs): pick the index, type a title, upload a photo, see the tags by facet and the
neighbours that voted; a screenshot is left in the test's folder."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from live_server import running_server

CHROMIUM = Path(os.environ.get("RTAG_CHROMIUM", "/usr/bin/chromium"))
needs_browser = pytest.mark.skipif(not CHROMIUM.exists() and not os.environ.get("RTAG_REQUIRE_BROWSER"),
                                   reason=f"no browser at {CHROMIUM}: `make test` installs Debian's chromium")


@needs_browser
def test_page_tags_a_title_and_a_photo(both_index, catalog_dir, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    folder = tmp_path / "shop"
    shutil.copytree(both_index, folder)
    with running_server("--index", folder, "--reload-every", "0") as client, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 390, "height": 844})  # phone width
            page.goto(f"{client.base_url}/")
            expect(page.locator("#index option")).to_have_count(1)
            page.fill("#title", "red cotton shirt")
            page.set_input_files("#photo", str(catalog_dir / "images" / "p00.png"))
            page.click("#go")
            expect(page.locator(".facet h2").first).to_be_visible(timeout=30_000)
            facets = page.locator(".facet h2").all_inner_texts()
            assert {"COLOUR", "ARTICLE"} <= {f.upper() for f in facets}, facets
            expect(page.locator("#status")).to_contain_text("tagged in")
            expect(page.locator(".neighbour").first).to_be_visible()
            page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
        finally:
            browser.close()
    assert (tmp_path / "page.png").stat().st_size > 1000
