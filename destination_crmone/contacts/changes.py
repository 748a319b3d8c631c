"""What changed for a contact since it was last sent: planning against the journal's field
ledger (`journal.LedgerRow`). Pure: no I/O.

- A contact's versions seen together (a batch, oldest first) collapse into one change. Its
  properties are the newest version's; a property is *changed* when the digest of its value
  differs from the one last sent, and its *source time* is when that value was first seen:
  the `lastModifiedAt` of the first version carrying it, remembered across runs by the ledger.
  A value that did not change in commercetools has nothing newer to say, whatever the
  customer's `lastModifiedAt` reads.
- Consents are events. Per (channel, purpose), the collapse keeps the status with the newest
  consent time over every version seen (so a withdrawal in version 6 is sent even when
  version 7 carries an older grant). A consent's time is the record's timestamp field, else the
  time its status was first seen. It is sent only when it differs from the one last sent
  (status and time: a grant renewed at a new time is a new event; a status merely carried
  along by later, unrelated changes keeps its first-seen time and is not).
- `properties_to_send` applies the ownership rules (`merge.decide`) to the changed
  properties; commercetools-owned ones travel together whenever the contact is written.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from destination_crmone.config import Owner
from destination_crmone.contacts.merge import decide, is_empty, value_digest
from destination_crmone.journal import LedgerRow
from destination_crmone.records import ConsentPayload, MappedContact
from destination_crmone.timefmt import try_normalize_rfc3339


@dataclass(frozen=True)
class Seen:
    """The digest of the source value last seen for a field, and when it was first seen."""

    digest: str
    first_seen_at: str | None


def seen_after(previous: Seen | None, digest: str, time: str | None) -> Seen:
    """The same value keeps the time it was first seen; a new value is first seen now."""
    if previous is not None and previous.digest == digest:
        return previous
    return Seen(digest, time)


def consent_digest(consent: ConsentPayload) -> str:
    """What identifies a consent event: its status and its time (the record's own, else when
    that status was first seen, which later unrelated changes do not move)."""
    return value_digest(f"{consent.status}@{try_normalize_rfc3339(consent.updated_at) or ''}")


def _not_older(time: str | None, than: str | None) -> bool:
    """`time` is at least as new as `than` (both normalised RFC 3339 text; None is oldest)."""
    left, right = try_normalize_rfc3339(time), try_normalize_rfc3339(than)
    if right is None:
        return True
    return left is not None and left >= right


@dataclass
class ContactChange:
    """One contact's versions of a batch against its ledger rows."""

    mapped: MappedContact  # the newest version
    known: bool  # the ledger has rows: the contact was written before
    changed: frozenset[str]  # properties whose value differs from the one last sent
    source_times: dict[str, str | None]  # property → when its value was first seen
    last_sent: dict[str, str]  # property → digest of the value last sent
    consents: list[ConsentPayload]  # to send: differ from the ones last sent
    unchanged_consents: int = 0
    seen: dict[str, Seen] = field(default_factory=dict)  # field → value last seen
    previous: Mapping[str, LedgerRow] = field(default_factory=dict)

    def ledger_rows(self, sent_properties: Collection[str], now: str) -> list[LedgerRow]:
        """The ledger once this change is settled: what was seen, and what was sent (the
        properties named, the consents of `consents`)."""
        key = self.mapped.ledger_key
        sent = {name: value_digest(self.mapped.properties[name]) for name in sent_properties}
        sent.update({consent.key: consent_digest(consent) for consent in self.consents})
        rows = []
        for name, seen in self.seen.items():
            before = self.previous.get(name)
            if name in sent:
                digest, at = sent[name], now
            else:
                digest, at = (before.sent_digest, before.sent_at) if before else (None, None)
            rows.append(LedgerRow(key, name, digest, at, seen.digest, seen.first_seen_at))
        return rows


def collapse(versions: list[MappedContact], ledger: Mapping[str, LedgerRow]) -> ContactChange:
    """One change from a contact's versions (oldest first) and its ledger rows."""
    seen = {name: Seen(row.seen_digest, row.first_seen_at) for name, row in ledger.items()}
    chosen: dict[str, ConsentPayload] = {}
    for version in versions:
        time = version.source_updated_at
        for name, value in version.properties.items():
            seen[name] = seen_after(seen.get(name), value_digest(value), time)
        for consent in version.consents:
            status = seen_after(seen.get(consent.key), value_digest(consent.status), time)
            seen[consent.key] = status
            if not consent.dated_by_field and status.first_seen_at is not None:
                consent = replace(consent, updated_at=status.first_seen_at)
            held = chosen.get(consent.key)
            if held is None or _not_older(consent.updated_at, held.updated_at):
                chosen[consent.key] = consent
    newest = versions[-1]
    newest.consents = list(chosen.values())
    changed = frozenset(
        name
        for name, value in newest.properties.items()
        if (row := ledger.get(name)) is None or row.sent_digest != value_digest(value)
    )
    to_send = [
        consent
        for consent in newest.consents
        if (row := ledger.get(consent.key)) is None or row.sent_digest != consent_digest(consent)
    ]
    return ContactChange(
        mapped=newest,
        known=bool(ledger),
        changed=changed,
        source_times={name: seen[name].first_seen_at for name in newest.properties},
        last_sent={name: row.sent_digest for name, row in ledger.items() if row.sent_digest},
        consents=to_send,
        unchanged_consents=len(newest.consents) - len(to_send),
        seen=seen,
        previous=ledger,
    )


def needs_current(change: ContactChange, owners: Mapping[str, Owner]) -> bool:
    """Would this change touch a property whose rule depends on CRM One's current value?
    (`crm_one`: a changed value to offer; `most_recent`: any changed value.)"""
    properties = change.mapped.properties
    return any(
        name in change.changed
        and name in properties
        and (owner == "most_recent" or not is_empty(properties[name]))
        for name, owner in owners.items()
    )


def properties_to_send(
    change: ContactChange,
    owners: Mapping[str, Owner],
    current: Mapping[str, Any] | None,
    read: frozenset[str] | None,
) -> dict[str, Any]:
    """The properties to upsert for one contact; `{}` means no upsert is needed.

    `owners`: properties not owned by commercetools; `read` names the properties whose
    current values were read (None: nothing was read), `current` is the contact read (None
    when CRM One has no such contact: every value it has is sent). Owned properties follow
    `merge.decide` against the ledger; the commercetools-owned ones are all sent (None clears)
    when one of them changed, an owned one is sent, or the contact was never written.
    """
    properties = change.mapped.properties
    if read is not None and current is None:  # read, and a new contact: every value it has
        return {name: value for name, value in properties.items() if not is_empty(value)}
    read = read or frozenset()
    owned: dict[str, Any] = {}
    if current is not None:
        compared = {name: value for name, value in properties.items() if name in read}
        owned = decide(
            compared,
            current,
            owners,
            change.mapped.source_updated_at,
            changed=change.changed,
            source_times=change.source_times,
            last_sent=change.last_sent,
        )
    ours = {name: value for name, value in properties.items() if name not in owners}
    if owned or not change.known or any(name in change.changed for name in ours):
        return {**{n: v for n, v in ours.items() if n not in read}, **owned}
    return {}


def unchanged_versions(
    keys: Iterable[tuple[str, str | None]], sent: Mapping[str, str]
) -> set[tuple[str, str | None]]:
    """The (record key, version) pairs already fully sent (`sent`: key → newest version fully
    sent under this mapping): nothing of theirs needs mapping. A newer version of the same
    record is not among them."""
    return {
        (key, version)
        for key, version in keys
        if version is not None and key in sent and not version > sent[key]
    }
