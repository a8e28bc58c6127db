"""The shared mode's sessions and downloads, probed as an attacker would: a token that expires while the cookie
lives on, a download URL opened by anybody else, a download click after access changed, signing out of one tab, the
table toolbar. The deployment, its browser and its people are tests/test_browser_shared.py's fixtures; this module
starts a deployment of its own, so pytest-xdist (`--dist loadfile`) can run it beside that module's walk.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import test_browser_shared as shared
from test_browser import RENDER_MS, expect, wait_rendered
from test_browser_shared import ROLES, audit_lines, settled, sign_in

pytestmark = pytest.mark.browser

# test_browser_shared's fixtures, made here for this module's tests
deployment, browser, person = shared.deployment, shared.browser, shared.person
# The lives of the short ID tokens the expiry tests sign in with, tried in turn while a machine is too slow for one
SHORT_TOKEN_SECONDS = (20, 45, 90)


def signed_in_until_expired(deployment: dict, person, sub: str, ready) -> tuple:
    """(page, ready(page)), returned once the ID token `sub` signed in with has expired: `ready` saw on the page
    what the test needs while the token was still good. A machine slow enough to take longer than the token's life
    to sign in and draw the page signs the same person in again with a longer-lived token, so the test waits on
    what the app does and not on the machine's speed."""
    for seconds in SHORT_TOKEN_SECONDS:
        expires = int(time.time()) + seconds
        page = person()
        try:
            sign_in(page, deployment, sub, exp=expires)
            seen = ready(page)
            break
        except AssertionError:
            if time.time() < expires or seconds == SHORT_TOKEN_SECONDS[-1]:
                raise
            page.close()
    time.sleep(max(0.0, expires + 1 - time.time()))
    return page, seen


def test_an_expired_token_is_refused_though_the_cookie_lives_on(deployment, person):
    """The provider's ID token for this person expires a few seconds after sign-in; Streamlit's cookie does not."""
    page, _ = signed_in_until_expired(deployment, person, "late@example.com",
                                      lambda page: wait_rendered(page, "Overview", "Active accounts", False))
    page.reload()

    expect(page.get_by_role("heading", name="Your sign-in has expired")).to_be_visible(timeout=RENDER_MS)
    settled(page)
    assert "Active accounts" not in page.content()


# --- probed as an attacker would -------------------------------------------------------------------------------

def at_risk_download_button(page, deployment):
    page.goto(f"{deployment['base_url']}/at_risk")
    wait_rendered(page, "At-risk accounts", "Active accounts scored", False)
    return page.get_by_test_id("stDownloadButton").locator("button")


def refused_click(page, button, log: Path, what: str) -> None:
    """A download click the server must refuse: the button says so, no file arrives, no export is logged."""
    before = len(audit_lines(log))
    downloads = []
    page.on("download", lambda download: downloads.append(download))
    settled(page)
    button.click()
    error = button.locator("xpath=ancestor::*[@data-testid='stDownloadButton']").get_by_test_id(
        "stDownloadButtonError")
    expect(error).to_be_visible(timeout=RENDER_MS)
    page.wait_for_timeout(1_000)
    assert downloads == [], f"{what}: a file arrived"
    assert [e for e in audit_lines(log)[before:] if e["event"] == "export"] == [], what


def test_no_table_toolbar_exports_and_the_lead_gets_no_account_file(deployment, person):
    """The support lead may see the at-risk list but not take it away; nobody's table toolbar makes an unaudited
    file (client.disableDataExport), while the toolbar itself is there."""
    for who in ("lead@example.com", "exec@example.com"):
        page = person()
        sign_in(page, deployment, who)
        page.goto(f"{deployment['base_url']}/at_risk")
        wait_rendered(page, "At-risk accounts", "Active accounts scored", False)
        table = page.get_by_test_id("stDataFrame").first
        table.hover()
        toolbar = page.get_by_test_id("stElementToolbar").first
        expect(toolbar.get_by_role("button").first).to_be_visible(timeout=RENDER_MS)  # search, full screen
        expect(toolbar.get_by_role("button", name="Download as CSV")).to_have_count(0)
        buttons = page.get_by_test_id("stDownloadButton")
        expect(buttons).to_have_count(0 if who.startswith("lead") else 1)


def test_a_download_url_is_served_to_nobody_else(deployment, person):
    dana, executive = person(), person()
    sign_in(dana, deployment, "dana@example.com")
    sign_in(executive, deployment, "exec@example.com")
    with dana.expect_download(timeout=RENDER_MS) as download:
        at_risk_download_button(dana, deployment).click()
    url, content = download.value.url, Path(download.value.path()).read_bytes()
    assert "/media/" in url and b"Dana Ruiz" in content

    with pytest.raises(urllib.error.HTTPError) as no_cookie:
        urllib.request.urlopen(url, timeout=10)
    assert no_cookie.value.code == 404
    assert executive.request.get(url).status == 404  # another signed-in person's cookie
    own = dana.request.get(url)  # the person it was made for, in the minutes after her click
    assert own.status == 200 and own.body() == content


def test_a_download_click_is_refused_once_access_has_changed(deployment, person):
    """The page was shown when she was let in; the click comes after her access changed, without a reload."""
    roles_file, log = deployment["roles"], deployment["audit"]
    page = person()
    sign_in(page, deployment, "dana@example.com")
    button = at_risk_download_button(page, deployment)
    try:
        roles_file.write_text(ROLES.replace('"dana@example.com"', '# "dana@example.com"'), encoding="utf-8")
        refused_click(page, button, log, "removed from the roles file")
        roles_file.write_text(ROLES + "this is not toml\n", encoding="utf-8")
        refused_click(page, button, log, "roles file broken")
    finally:
        roles_file.write_text(ROLES, encoding="utf-8")

    late, button = signed_in_until_expired(deployment, person, "late@example.com",
                                           lambda page: at_risk_download_button(page, deployment))
    refused_click(late, button, log, "token expired")


def test_signing_out_ends_the_other_tabs_and_copied_cookies(deployment, person, browser):
    first = person()
    sign_in(first, deployment, "dana@example.com")
    second = first.context.new_page()
    second.goto(f"{deployment['base_url']}/at_risk")
    wait_rendered(second, "At-risk accounts", "Active accounts scored", False)
    copied = first.context.cookies()

    first.get_by_test_id("stSidebar").get_by_role("button", name="Sign out").click()
    first.get_by_role("button", name="End session").click()
    expect(first.get_by_role("button", name="Sign in")).to_be_visible(timeout=RENDER_MS)

    # the other tab, untouched since: the server shows it the sign-in page by itself
    expect(second.get_by_role("button", name="Sign in")).to_be_visible(timeout=RENDER_MS)
    settled(second)
    assert "Active accounts scored" not in second.content()
    # the cookies copied before the sign-out, in a fresh browser
    thief = browser.new_context()
    try:
        thief.add_cookies(copied)
        page = thief.new_page()
        page.goto(f"{deployment['base_url']}/at_risk")
        expect(page.get_by_role("button", name="Sign in")).to_be_visible(timeout=RENDER_MS)
        settled(page)
        assert "Active accounts scored" not in page.content()
    finally:
        thief.close()
    signed_out = [e for e in audit_lines(deployment["audit"]) if e["event"] == "sign_out"]
    assert signed_out and signed_out[-1]["user"] == "dana@example.com"
