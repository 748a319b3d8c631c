"""The read-only /ui/ pages, the admin endpoints and the command line."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from pathlib import Path

import requests

from unit_tests.sandbox_crmone.conftest import Api, contact

HOSTILE = "<script>alert('x')</script>"


def seed_hostile_contact(api: Api) -> str:
    made = api.upsert(
        contact(
            "ct:<b>1</b>",
            email="ana@example.com",
            first_name=HOSTILE,
            store="eu-web",
            stores=["eu-web"],
            lifecycle_stage="customer",
        )
    )
    api.post(
        "/v1/consents/batch",
        {
            "records": [
                {
                    "contact_external_id": "ct:<b>1</b>",
                    "channel": "email",
                    "purpose": "marketing",
                    "status": "granted",
                    "updated_at": "2026-11-26T17:59:00.000Z",
                    "source": HOSTILE,
                }
            ]
        },
    )
    api.post(
        "/v1/activities/batch",
        {
            "records": [
                {
                    "external_id": "order:1:placed",
                    "contact_external_id": "ct:<b>1</b>",
                    "type": "order_placed",
                    "occurred_at": "2026-11-26T17:58:00.000Z",
                    "subject": HOSTILE,
                }
            ]
        },
    )
    api.post("/v1/lists/l_vip/members/batch", {"add": ["ct:<b>1</b>"]})
    api.sandbox.user_edit("ct:<b>1</b>", {"city": "Porto"})
    return made["results"][0]["id"]


def test_contacts_page_lists_contacts_with_escaped_values(api: Api) -> None:
    seed_hostile_contact(api)
    page = requests.get(f"{api.sandbox.url}/ui/", timeout=10)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert 'id="contacts"' in page.text and page.text.count('class="contact"') == 1
    assert HOSTILE not in page.text and "<b>1</b>" not in page.text
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page.text
    assert "ct:&lt;b&gt;1&lt;/b&gt;" in page.text
    for value in ("ana@example.com", "eu-web", "customer"):
        assert value in page.text
    assert "<script" not in page.text.lower()
    found = requests.get(f"{api.sandbox.url}/ui/", params={"q": "nobody"}, timeout=10)
    assert 'class="contact"' not in found.text


def test_contact_page_shows_properties_consents_activities_and_lists(api: Api) -> None:
    contact_id = seed_hostile_contact(api)
    page = requests.get(f"{api.sandbox.url}/ui/contacts/{contact_id}", timeout=10).text
    assert "<script" not in page.lower()
    assert page.count('class="consent"') == 1 and page.count('class="activity"') == 1
    assert page.count('class="membership"') == 1 and "l_vip" in page
    assert re.search(r'class="by-user">user<', page)  # city, edited by a person
    assert re.search(r'class="by-integration">integration<', page)
    assert 'class="granted"' in page
    missing = requests.get(f"{api.sandbox.url}/ui/contacts/c_nope", timeout=10)
    assert missing.status_code == 404


def test_lists_pages(api: Api) -> None:
    seed_hostile_contact(api)
    lists = requests.get(f"{api.sandbox.url}/ui/lists", timeout=10).text
    assert 'id="lists"' in lists and lists.count('class="list"') >= 3
    members = requests.get(f"{api.sandbox.url}/ui/lists/l_vip", timeout=10).text
    assert members.count('class="member"') == 1 and "<b>" not in members


def test_ui_needs_no_token_and_redirects_to_the_slash(api: Api) -> None:
    response = requests.get(f"{api.sandbox.url}/ui", timeout=10, allow_redirects=False)
    assert response.status_code in (301, 302, 308)
    assert response.headers["Location"].endswith("/ui/")


def test_dump_holds_everything_as_json(api: Api) -> None:
    seed_hostile_contact(api)
    dump = requests.get(f"{api.sandbox.url}/_sandbox/dump", timeout=10).json()
    assert [c["external_id"] for c in dump["contacts"]] == ["ct:<b>1</b>"]
    assert dump["consents"]["ct:<b>1</b>"][0]["status"] == "granted"
    assert dump["activities"][0]["external_id"] == "order:1:placed"
    vip = next(item for item in dump["lists"] if item["id"] == "l_vip")
    assert vip["members"] == ["ct:<b>1</b>"]
    assert dump["objects"] == {"orders": []}


def test_cli_prints_ready_and_stops_on_sigterm() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox.crmone", "--port", "0", "--rps", "50"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        line = process.stdout.readline().strip()
        assert re.fullmatch(r"READY http://127\.0\.0\.1:\d+", line), line
        url = line.split()[1]
        account = requests.post(
            f"{url}/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": "crmone-client",
                "client_secret": "crmone-secret",
            },
            timeout=10,
        )
        assert account.status_code == 200
        limit = requests.get(f"{url}/v1/account", timeout=10).headers["X-RateLimit-Limit"]
        assert limit == "50"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def test_state_file_survives_a_restart(api: Api, tmp_path: Path) -> None:
    seed_hostile_contact(api)
    api.upsert(contact("ct:gone", email="gone@example.com"))
    gone = api.sandbox.contact("ct:gone")["id"]
    api.post(f"/v1/contacts/{gone}/erase")
    api.post("/v1/schema/contacts/properties", {"name": "tier", "type": "string"})
    api.post(
        "/v1/objects/orders/batch/upsert",
        {
            "records": [
                {
                    "external_id": "order:1",
                    "contact_external_id": "ct:<b>1</b>",
                    "properties": {"order_number": "1"},
                }
            ]
        },
    )
    state = tmp_path / "crm.json"
    api.sandbox.save_state(state)
    before = api.sandbox.dump()
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox.crmone", "--port", "0", "--state-file", str(state)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        url = process.stdout.readline().split()[1]
        after = requests.get(f"{url}/_sandbox/dump", timeout=10).json()
        assert after == before
        token = requests.post(
            f"{url}/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": "crmone-client",
                "client_secret": "crmone-secret",
            },
            timeout=10,
        ).json()["access_token"]
        upsert = requests.post(
            f"{url}/v1/contacts/batch/upsert",
            json={"records": [contact("ct:gone"), contact("ct:new", tier="gold")]},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        ).json()
        assert upsert["errors"][0]["code"] == "erased"
        assert upsert["results"][0]["id"] not in {c["id"] for c in before["contacts"]} | {gone}
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    saved = json.loads(state.read_text())
    assert {c["external_id"] for c in saved["contacts"]} == {"ct:<b>1</b>", "ct:new"}
