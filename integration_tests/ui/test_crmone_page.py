"""The CRM One sandbox's read-only page, rendered by a real headless Chromium."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import requests

from sandbox.crmone import CrmOneSandbox

pytestmark = pytest.mark.browser
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None:
    if os.environ.get("CI"):
        raise RuntimeError("CI needs Debian's chromium for the page test (.ci/run installs it)")
    pytest.skip("chromium is not installed", allow_module_level=True)

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium(url: str, *extra: str) -> str:
    with tempfile.TemporaryDirectory() as profile:
        out = subprocess.run(
            [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *extra, url],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
    return out.stdout


@pytest.fixture(scope="module")
def crm():
    with CrmOneSandbox(requests_per_second=1000) as sandbox:
        token = requests.post(
            f"{sandbox.url}/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": sandbox.client_id,
                "client_secret": sandbox.client_secret,
            },
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}

        def post(path: str, body: dict) -> dict:
            response = requests.post(f"{sandbox.url}{path}", json=body, headers=headers)
            assert response.status_code == 200, response.text
            return response.json()

        post(
            "/v1/contacts/batch/upsert",
            {
                "id_property": "external_id",
                "records": [
                    {
                        "external_id": "ct:ana",
                        "properties": {
                            "email": "ana@example.com",
                            "first_name": "Ana <b>",
                            "store": "eu-web",
                        },
                    },
                    {
                        "external_id": "ct:ben",
                        "properties": {"email": "ben@example.com", "first_name": "Ben"},
                    },
                ],
            },
        )
        post(
            "/v1/consents/batch",
            {
                "records": [
                    {
                        "contact_external_id": "ct:ana",
                        "channel": "email",
                        "purpose": "marketing",
                        "status": "granted",
                        "updated_at": "2026-11-26T10:00:00.000Z",
                        "source": "commercetools",
                    }
                ]
            },
        )
        post(
            "/v1/activities/batch",
            {
                "records": [
                    {
                        "external_id": "order:1:placed",
                        "contact_external_id": "ct:ana",
                        "type": "order_placed",
                        "occurred_at": "2026-11-26T09:00:00.000Z",
                        "subject": "Order 100045",
                        "amount": {"amount": "59.90", "currency": "EUR"},
                        "store": "eu-web",
                        "properties": {"order_state": "Open"},
                    }
                ]
            },
        )
        post("/v1/lists/l_eu_newsletter/members/batch", {"add": ["ct:ana"], "remove": []})
        sandbox.headers = headers
        yield sandbox


def test_contacts_page_lists_every_contact(crm):
    dom = chromium(f"{crm.url}/ui/", "--dump-dom")
    table = dom[dom.index('id="contacts"') :]
    assert "ana@example.com" in table and "ben@example.com" in table
    assert "Ana &lt;b&gt;" in dom, "values must be escaped, not rendered as markup"


def test_contact_page_shows_consents_activities_and_lists(crm):
    contact = requests.get(
        f"{crm.url}/v1/contacts", params={"external_id": "ct:ana"}, headers=crm.headers
    ).json()["results"][0]
    dom = chromium(f"{crm.url}/ui/contacts/{contact['id']}", "--dump-dom")
    consents = dom[dom.index('id="consents"') :].split("</table>")[0]
    assert re.search(r"email.*marketing.*granted", consents, re.S)
    activities = dom[dom.index('id="activities"') :].split("</table>")[0]
    assert "order_placed" in activities and "Order 100045" in activities
    assert "l_eu_newsletter" in dom[dom.index('id="memberships"') :]


def test_activities_by_type_link_to_their_list(crm):
    dom = chromium(f"{crm.url}/ui/", "--dump-dom")
    types = dom[dom.index('id="activity-types"') :].split("</table>")[0]
    assert "order_placed" in types and "/ui/activities?type=order_placed" in types
    listed = chromium(f"{crm.url}/ui/activities?type=order_placed", "--dump-dom")
    activities = listed[listed.index('id="activities"') :].split("</table>")[0]
    assert "order:1:placed" in activities and "ct:ana" in activities
    assert 'class="empty"' in chromium(f"{crm.url}/ui/activities?type=cart_abandoned", "--dump-dom")


def test_page_renders_to_a_screenshot(crm, tmp_path: Path):
    shot = tmp_path / "contacts.png"
    chromium(f"{crm.url}/ui/", f"--screenshot={shot}", "--window-size=1200,800")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 5_000
