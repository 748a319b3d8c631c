"""The read-only page people open to see what the sync wrote (`/ui/`)."""

from __future__ import annotations

from html import escape
from typing import Any

from werkzeug.wrappers import Request, Response

STYLE = """body{font-family:system-ui,sans-serif;margin:2rem;color:#222}
table{border-collapse:collapse;width:100%;margin-bottom:1.5rem}
th,td{border-bottom:1px solid #ddd;padding:.35rem .6rem;text-align:left;font-size:.9rem}
th{background:#f4f6f8}h1{font-size:1.4rem}nav a{margin-right:1rem}
.granted{color:#17803d}.withdrawn{color:#b42318}"""


def _page(title: str, body: str) -> Response:
    html = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title>"
        f"<style>{STYLE}</style></head><body><nav><a href='/ui/'>Contacts</a>"
        f"<a href='/ui/lists'>Lists</a></nav><h1>{escape(title)}</h1>{body}</body></html>"
    )
    return Response(html, content_type="text/html; charset=utf-8")


def _table(table_id: str, headers: list[str], rows: list[list[Any]], row_class: str = "") -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        f"<tr class='{row_class}'>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>"
        for row in rows
    )
    return f"<table id='{table_id}'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _text(value: Any) -> str:
    if isinstance(value, list):
        value = ", ".join(str(v) for v in value)
    return escape("" if value is None else str(value))


def render_page(app: Any, request: Request) -> Response:
    data = app.data
    path = request.path.rstrip("/")
    with data.lock:
        if path in ("/ui", ""):
            contacts = [c for c in data.contacts.values() if not c.erased_at]
            rows = [
                [
                    f"<a href='/ui/contacts/{escape(c.id)}'>{_text(c.external_id)}</a>",
                    _text(c.properties.get("email")),
                    _text(
                        f"{c.properties.get('first_name') or ''} "
                        f"{c.properties.get('last_name') or ''}".strip()
                    ),
                    _text(c.properties.get("store")),
                    _text(c.properties.get("stores")),
                    _text(len(data.consents.get(c.id, {}))),
                    _text("archived" if c.archived else "active"),
                    _text(max((m["updated_at"] for m in c.meta.values()), default="")),
                ]
                for c in contacts
            ]
            summary = (
                f"<p id='summary'>{len(contacts)} contacts, {len(data.activities)} activities</p>"
            )
            return _page(
                "CRM One: contacts",
                summary
                + _table(
                    "contacts",
                    [
                        "External ID",
                        "Email",
                        "Name",
                        "Store",
                        "Stores",
                        "Consents",
                        "Status",
                        "Updated",
                    ],
                    rows,
                    "contact",
                ),
            )
        if path == "/ui/lists":
            rows = [
                [
                    _text(lst["id"]),
                    _text(lst["name"]),
                    _text(lst["kind"]),
                    _text(len(data.members[lst["id"]])),
                    _text(sorted(data.members[lst["id"]])),
                ]
                for lst in data.lists.values()
            ]
            return _page(
                "CRM One: lists",
                _table("lists", ["ID", "Name", "Kind", "Members", "External IDs"], rows, "list"),
            )
        if path.startswith("/ui/contacts/"):
            contact = data.contacts.get(path.rsplit("/", 1)[1])
            if contact is None or contact.erased_at:
                return Response("not found", status=404)
            props = [
                [
                    _text(k),
                    _text(v),
                    _text(contact.meta.get(k, {}).get("updated_at")),
                    _text(contact.meta.get(k, {}).get("updated_by")),
                ]
                for k, v in sorted(contact.properties.items())
            ]
            consents = [
                [
                    _text(c["channel"]),
                    _text(c["purpose"]),
                    f"<span class='{escape(c['status'])}'>{_text(c['status'])}</span>",
                    _text(c["updated_at"]),
                    _text(c.get("source")),
                ]
                for c in data.consents.get(contact.id, {}).values()
            ]
            activities = sorted(
                (a for a in data.activities.values() if a["contact_id"] == contact.id),
                key=lambda a: a.get("occurred_at") or "",
                reverse=True,
            )
            timeline = [
                [
                    _text(a["occurred_at"]),
                    _text(a["type"]),
                    _text(a.get("subject")),
                    _text((a.get("amount") or {}).get("amount")),
                    _text(a.get("store")),
                ]
                for a in activities
            ]
            lists = [
                [_text(lst_id)]
                for lst_id, members in data.members.items()
                if contact.external_id in members
            ]
            body = (
                f"<p>External ID: <code id='external-id'>{_text(contact.external_id)}</code>"
                f" · version {contact.version}</p><h2>Properties</h2>"
                + _table(
                    "properties",
                    ["Property", "Value", "Updated at", "Updated by"],
                    props,
                    "property",
                )
                + "<h2>Consents</h2>"
                + _table(
                    "consents",
                    ["Channel", "Purpose", "Status", "Updated at", "Source"],
                    consents,
                    "consent",
                )
                + "<h2>Activities</h2>"
                + _table(
                    "activities",
                    ["Occurred at", "Type", "Subject", "Amount", "Store"],
                    timeline,
                    "activity",
                )
                + "<h2>Lists</h2>"
                + _table("memberships", ["List"], lists, "membership")
            )
            return _page(f"Contact {contact.properties.get('email') or contact.id}", body)
    return Response("not found", status=404)
