"""The read-only page people open to see what a sync wrote: `/ui/`.

Plain server-rendered HTML; every value goes through `html.escape`. Stable ids and classes
for browser tests: `#contacts tr.contact`, `#properties tr.property`, `#consents tr.consent`,
`#activities tr.activity`, `#memberships tr.membership`, `#lists tr.list`, `#members tr.member`,
`#activity-types tr.activity-type` (counts per type on the contacts page; each links to
`/ui/activities?type=…`, the newest activities of that type with their contact).
The caller holds the data lock.
"""

from __future__ import annotations

from html import escape
from typing import Any
from urllib.parse import quote, urlencode

from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from sandbox.crmone.store import Contact, CrmData

PAGE_SIZE = 200
STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5rem 2rem;color:#1f2933;background:#fff}
nav{margin-bottom:1rem}nav a{margin-right:1rem;color:#0b5cad;text-decoration:none}
h1{font-size:1.35rem}h2{font-size:1.1rem;margin-top:1.6rem}
table{border-collapse:collapse;width:100%;margin-bottom:1rem}
th,td{border-bottom:1px solid #e4e7eb;padding:.3rem .55rem;text-align:left;font-size:.88rem;
vertical-align:top}
th{background:#f5f7fa;font-weight:600}tr.archived td{color:#9aa5b1}
.granted{color:#137333;font-weight:600}.withdrawn{color:#b3261e;font-weight:600}
.by-user{color:#8a4b00}.muted{color:#7b8794}code{font-size:.85rem}
form{margin:.5rem 0 1rem}input{padding:.25rem .4rem}
"""


def text(value: Any) -> str:
    """Any value as escaped text (lists joined, money as amount and currency)."""
    if value is None:
        return ""
    if isinstance(value, list):
        return escape(", ".join(str(v) for v in value))
    if isinstance(value, dict) and set(value) == {"amount", "currency"}:
        return escape(f"{value['amount']} {value['currency']}")
    if isinstance(value, bool):
        return "true" if value else "false"
    return escape(str(value))


def table(table_id: str, headers: list[str], rows: list[tuple[str, list[str]]]) -> str:
    """Cells are already-escaped HTML; each row is (class attribute, cells)."""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        f'<tr class="{row_class}">' + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>"
        for row_class, cells in rows
    )
    if not rows:
        body = f'<tr class="empty"><td colspan="{len(headers)}" class="muted">none</td></tr>'
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def page(title: str, body: str, status: int = 200) -> Response:
    html = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{escape(title)} · CRM One sandbox</title><style>{STYLE}</style></head><body>"
        "<nav><a href='/ui/'>Contacts</a><a href='/ui/activities'>Activities</a>"
        "<a href='/ui/lists'>Lists</a></nav>"
        f"<h1>{escape(title)}</h1>{body}</body></html>"
    )
    return Response(html, status=status, content_type="text/html; charset=utf-8")


def render(data: CrmData, request: Request) -> Response:
    path = request.path.rstrip("/")
    if request.method != "GET":
        return page("Read-only", "<p>This page only shows data.</p>", 405)
    if path == "/ui" and not request.path.endswith("/"):
        return redirect("/ui/")
    if path == "/ui":
        return contacts_page(data, request)
    if path == "/ui/lists":
        return lists_page(data)
    if path == "/ui/activities":
        return activities_page(data, request.args.get("type", ""))
    if path.startswith("/ui/lists/"):
        return list_page(data, path.removeprefix("/ui/lists/"))
    if path.startswith("/ui/contacts/"):
        return contact_page(data, path.removeprefix("/ui/contacts/"))
    return page("Not found", "<p>No such page.</p>", 404)


def _name(contact: Contact) -> str:
    props = contact.properties
    return " ".join(str(props[k]) for k in ("first_name", "last_name") if props.get(k))


def _link(contact: Contact, label: str) -> str:
    return f'<a href="/ui/contacts/{quote(contact.id)}">{label}</a>'


def contacts_page(data: CrmData, request: Request) -> Response:
    query = request.args.get("q", "").strip().lower()
    try:
        page_no = max(1, int(request.args.get("page", "1")))
    except ValueError:
        page_no = 1
    found = [
        c
        for c in data.contacts.values()
        if not query
        or query in (c.external_id or "").lower()
        or query in str(c.properties.get("email", ""))
        or query in _name(c).lower()
    ]
    shown = found[(page_no - 1) * PAGE_SIZE : page_no * PAGE_SIZE]
    rows = [
        (
            "contact archived" if c.archived else "contact",
            [
                _link(c, f"<code>{text(c.external_id or '(none)')}</code>"),
                text(c.properties.get("email")),
                text(_name(c)),
                text(c.properties.get("store")),
                text(c.properties.get("stores")),
                text(c.properties.get("lifecycle_stage")),
                text(len(data.consents.get(c.id, {}))),
                "archived" if c.archived else "active",
                text(c.updated_at or c.created_at),
            ],
        )
        for c in shown
    ]
    pages = max(1, -(-len(found) // PAGE_SIZE))
    nav = "".join(
        f' <a class="page" href="/ui/?{escape(urlencode({"q": query, "page": n}))}">{n}</a>'
        for n in range(1, pages + 1)
        if pages > 1 and abs(n - page_no) <= 5
    )
    summary = (
        f'<p id="summary">{len(data.contacts)} contacts ({len(found)} shown by the filter), '
        f"{len(data.activities)} activities, {len(data.tombstones)} erased. "
        f"Page {page_no} of {pages}.{nav}</p>"
    )
    search = (
        '<form method="get" action="/ui/"><input id="q" name="q" placeholder="external id, '
        f'email or name" value="{escape(query)}"> <button>Search</button></form>'
    )
    headers = ["External ID", "Email", "Name", "Store", "Stores", "Lifecycle", "Consents"]
    return page(
        "Contacts",
        search
        + summary
        + activity_types_table(data)
        + table("contacts", [*headers, "Status", "Updated"], rows),
    )


def _activity_properties(activity: dict[str, Any]) -> str:
    return text(", ".join(f"{k}={v}" for k, v in (activity.get("properties") or {}).items()))


def activity_types_table(data: CrmData) -> str:
    """How many activities of each type, each linking to its list."""
    counts: dict[str, int] = {}
    for activity in data.activities.values():
        counts[activity["type"]] = counts.get(activity["type"], 0) + 1
    rows = [
        (
            "activity-type",
            [
                f'<a href="/ui/activities?{escape(urlencode({"type": name}))}">{text(name)}</a>',
                text(count),
            ],
        )
        for name, count in sorted(counts.items())
    ]
    return table("activity-types", ["Activity type", "Activities"], rows)


def activities_page(data: CrmData, type_: str) -> Response:
    """The newest activities (of one type, when given) with their contact."""
    found = [a for a in data.activities.values() if not type_ or a["type"] == type_]
    found.sort(key=lambda a: (a["occurred_at"], a["id"]), reverse=True)
    rows = []
    for activity in found[:PAGE_SIZE]:
        contact = data.contacts.get(activity["contact_id"])
        who = contact.external_id or contact.properties.get("email") if contact else None
        rows.append(
            (
                "activity",
                [
                    text(activity["occurred_at"]),
                    text(activity["type"]),
                    _link(contact, text(who)) if contact else "",
                    text(activity.get("subject")),
                    text(activity.get("amount")),
                    text(
                        ", ".join(f"{k}={v}" for k, v in (activity.get("properties") or {}).items())
                    ),
                    f"<code>{text(activity['external_id'])}</code>",
                ],
            )
        )
    headers = ["Occurred at", "Type", "Contact", "Subject", "Amount", "Properties", "External ID"]
    title = f"Activities: {type_}" if type_ else "Activities"
    summary = f'<p id="summary">{len(found)} activities, the newest {len(rows)} shown.</p>'
    return page(title, activity_types_table(data) + summary + table("activities", headers, rows))


def contact_page(data: CrmData, contact_id: str) -> Response:
    contact = data.contacts.get(contact_id)
    if contact is None:
        return page("Not found", "<p>No such contact (unknown or erased).</p>", 404)
    properties = [
        (
            "property",
            [
                f"<code>{text(name)}</code>",
                text(value),
                text(contact.meta.get(name, {}).get("updated_at")),
                f'<span class="by-{text(by)}">{text(by)}</span>'
                if (by := contact.meta.get(name, {}).get("updated_by"))
                else "",
            ],
        )
        for name, value in sorted(contact.properties.items())
    ]
    consents = [
        (
            "consent",
            [
                text(c["channel"]),
                text(c["purpose"]),
                f'<span class="{text(c["status"])}">{text(c["status"])}</span>',
                text(c["updated_at"]),
                text(c.get("source")),
            ],
        )
        for c in data.consent_views(contact.id)
    ]
    activities = [
        (
            "activity",
            [
                text(a["occurred_at"]),
                text(a["type"]),
                text(a.get("subject")),
                text(a.get("amount")),
                text(a.get("store")),
                _activity_properties(a),
                f"<code>{text(a['external_id'])}</code>",
            ],
        )
        for a in data.contact_activities(contact.id)
    ]
    memberships = [
        (
            "membership",
            [
                f'<a href="/ui/lists/{quote(list_id)}">{text(list_id)}</a>',
                text(data.lists[list_id]["name"]),
            ],
        )
        for list_id in data.memberships(contact.id)
    ]
    facts = (
        f'<p>External ID <code id="external-id">{text(contact.external_id)}</code> · '
        f'id <code id="contact-id">{text(contact.id)}</code> · '
        f'version <span id="version">{contact.version}</span> · '
        f'<span id="status">{"archived" if contact.archived else "active"}</span></p>'
    )
    body = (
        facts
        + "<h2>Properties</h2>"
        + table("properties", ["Property", "Value", "Updated at", "Updated by"], properties)
        + "<h2>Consents</h2>"
        + table("consents", ["Channel", "Purpose", "Status", "Updated at", "Source"], consents)
        + "<h2>Activities</h2>"
        + table(
            "activities",
            ["Occurred at", "Type", "Subject", "Amount", "Store", "Properties", "External ID"],
            activities,
        )
        + "<h2>Lists</h2>"
        + table("memberships", ["List", "Name"], memberships)
    )
    title = contact.properties.get("email") or contact.external_id or contact.id
    return page(f"Contact {title}", body)


def lists_page(data: CrmData) -> Response:
    rows = [
        (
            "list",
            [
                f'<a href="/ui/lists/{quote(list_id)}">{text(list_id)}</a>',
                text(item["name"]),
                text(item["kind"]),
                text(len(data.visible_members(list_id))),
            ],
        )
        for list_id, item in data.lists.items()
    ]
    return page("Lists", table("lists", ["ID", "Name", "Kind", "Members"], rows))


def list_page(data: CrmData, list_id: str) -> Response:
    if list_id not in data.lists:
        return page("Not found", "<p>No such list.</p>", 404)
    members = sorted(
        (data.contacts[cid] for cid in data.members[list_id] if not data.contacts[cid].archived),
        key=lambda c: c.external_id or c.id,
    )
    rows = [
        (
            "member",
            [_link(c, f"<code>{text(c.external_id)}</code>"), text(c.properties.get("email"))],
        )
        for c in members
    ]
    return page(
        f"List {data.lists[list_id]['name']}",
        table("members", ["External ID", "Email"], rows),
    )
