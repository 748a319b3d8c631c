"""The destination's configuration: one pydantic model that is both the parser and the spec.

The keys of `../shared/CONFIG.md` are a public interface (`base_url`, `client_id`,
`client_secret`, `journal`, `ownership`, `deletions`, `orders_as`, `dry_run`); every other key
has a default, so a config of the connection and a journal path works untouched.

Parsing is strict: a key no model knows, anywhere in the config, is a `ConfigError` naming its
path and the nearest known key ("did you mean …"), found from the pydantic models themselves
(every model forbids extra keys), so a key added to a model is known everywhere at once. A
wrong type or an out-of-range value is a `ConfigError` that names the field, never a silent
coercion. Configs of earlier releases are brought to today's shape first (`upgrade_config`).
Secret values (and the values of unknown keys, which may be a mistyped secret) never appear in
an error message.
"""

from __future__ import annotations

import copy
import difflib
import os
import types
import typing
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from connectors_common import check_service_url, secrets
from connectors_common.urls import check_service_address
from destination_crmone.journal import DSN_UNREADABLE

DEFAULT_MAX_LINE_BYTES = 16 * 1024 * 1024

Owner = Literal["commercetools", "crm_one", "most_recent"]
Channel = Literal["email", "sms", "phone", "post", "push"]
IdentityField = Literal["id", "key", "externalId", "customerNumber"]

# Dotted paths of fields whose values are secrets: never echoed in an error.
SECRET_FIELDS = frozenset({"client_secret", "journal.dsn"})
# Fields whose values may hold a secret someone pasted in (a DSN string as the journal, a
# password in a URL): never echoed either.
UNQUOTED_FIELDS = SECRET_FIELDS | {"base_url", "journal"}


class ConfigError(ValueError):
    """A configuration that cannot be used; the message names every offending field."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        self.fields = tuple(field for field, _ in problems)
        super().__init__(
            "Invalid configuration: " + "; ".join(f"{field}: {why}" for field, why in problems)
        )


def _ui(order: int, group: str | None = None, **extra: Any) -> dict[str, Any]:
    """The Airbyte UI hints of one field: `order` fixes its place in the form, `group` the card
    of the form it is drawn in (one of FORM_GROUPS; top-level fields only)."""
    return {"order": order, **({"group": group} if group else {}), **extra}


# The cards of the Airbyte form, in order (`groups` of the spec; each top-level field names one).
FORM_GROUPS = (
    ("connection", "Connection"),
    ("mapping", "Mapping"),
    ("behaviour", "Behaviour"),
    ("journal", "Journal"),
    ("advanced", "Advanced (power users)"),
)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- journal -------------------------------------------------------------------------------


class SqliteJournalConfig(_Model):
    model_config = ConfigDict(title="SQLite file")

    type: Literal["sqlite"] = Field(
        default="sqlite",
        title="Journal type",
        description="A SQLite file on a disk the connector keeps between runs.",
        json_schema_extra=_ui(0),
    )
    # None: the journal decides (`journal.placement.journal_path`): config probes no disk
    path: str | None = Field(
        default=None,
        min_length=1,
        title="Path",
        description=(
            "File of the sync log and retry queue. Default: /local/crmone/journal.db when "
            "/local is a mounted volume, else the user's data directory. Put it on a disk "
            "that outlives the container (a persistent volume)."
        ),
        json_schema_extra=_ui(1, examples=["/local/crmone/journal.db"]),
    )
    allow_ephemeral: bool = Field(
        default=False,
        strict=True,
        title="Allow an ephemeral journal",
        description=(
            "Inside Kubernetes, check fails when the journal's file is on the pod's own disk "
            "or an emptyDir (deleted with the pod). Set true to accept losing the retry queue "
            "and sync log after each sync."
        ),
        json_schema_extra=_ui(2),
    )

    @field_validator("path")
    @classmethod
    def _expand_home(cls, path: str | None) -> str | None:
        if path is None:
            return None
        if not path.strip():
            raise ValueError("must not be blank")
        return os.path.expanduser(path)


class PostgresJournalConfig(_Model):
    model_config = ConfigDict(title="PostgreSQL")

    type: Literal["postgres"] = Field(
        default="postgres",
        title="Journal type",
        description="Tables in a PostgreSQL database.",
        json_schema_extra=_ui(0),
    )
    dsn: SecretStr = Field(
        title="DSN",
        description="libpq connection string, e.g. postgresql://user:password@host:5432/db.",
        json_schema_extra=_ui(1, airbyte_secret=True),
    )

    @field_validator("dsn")
    @classmethod
    def _postgres_dsn(cls, dsn: SecretStr) -> SecretStr:
        text = dsn.get_secret_value().strip()
        if not text:
            raise ValueError("must not be blank")
        if "://" in text and not text.startswith(("postgresql://", "postgres://")):
            raise ValueError("must be a postgresql:// URL or a key=value connection string")
        if "://" in text and _raw_userinfo_password(text) is not None:
            raise ValueError(
                "the password holds an unencoded '@' or '/': percent-encode it (%40, %2F)"
            )
        if not secrets.dsn_parts(text):  # libpq's own message would quote the text
            raise ValueError(DSN_UNREADABLE)
        return SecretStr(text)


def _raw_userinfo_password(url: str) -> str | None:
    """The text between `user:` and the last `@` of a DSN URL when it holds a character
    libpq would read as the end of the password (`@`, `/`); else None."""
    authority = url.split("://", 1)[1]
    if authority.count("@") < 1:
        return None
    userinfo = authority.rsplit("@", 1)[0]
    password = userinfo.split(":", 1)[1] if ":" in userinfo.split("/", 1)[0] else ""
    return password if ("@" in password or "/" in password) else None


JournalConfig = Annotated[SqliteJournalConfig | PostgresJournalConfig, Field(discriminator="type")]
JOURNAL_FIELDS_OF = {
    "sqlite": frozenset(SqliteJournalConfig.model_fields),
    "postgres": frozenset(PostgresJournalConfig.model_fields),
}
JOURNAL_SHAPE = 'must be an object: {"type": "sqlite", "path": …} or {"type": "postgres", "dsn": …}'


def journal_shape_problem(config: Any) -> str | None:
    """Why the config's `journal` is not an object, or None. Run before anything (the CDK's
    spec validation included) could quote the value: a DSN string holds a password."""
    journal = config.get("journal") if isinstance(config, Mapping) else None
    if journal is not None and not isinstance(journal, Mapping):
        return f"Invalid configuration: journal: {JOURNAL_SHAPE}"
    return None


# --- mapping pieces ------------------------------------------------------------------------


class Identity(_Model):
    model_config = ConfigDict(title="Contact identity")

    source_field: IdentityField = Field(
        default="id",
        title="Customer field",
        description="commercetools customer field that becomes the contact's external_id.",
        json_schema_extra=_ui(0),
    )
    prefix: str = Field(
        default="",
        max_length=128,
        title="Prefix",
        description='Put before the value, e.g. "ct-eu:" when several projects share one CRM.',
        json_schema_extra=_ui(1),
    )


class FieldMapping(_Model):
    model_config = ConfigDict(title="Field mapping")

    source: str = Field(
        pattern=r"^[A-Za-z0-9_$-]+(\.[A-Za-z0-9_$-]+)*$",
        title="commercetools field",
        description=(
            "Dotted path in the customer, e.g. custom.fields.loyaltyTier; "
            "address.billing.city is the default billing (else first) address, "
            "address.shipping.postal_code the default shipping (else billing) address; "
            "address.* alone is the billing address."
        ),
        json_schema_extra=_ui(0),
    )
    target: str = Field(
        pattern=r"^\S+$",
        max_length=128,
        title="CRM One property",
        description="Name of the contact property in CRM One, e.g. loyalty_tier.",
        json_schema_extra=_ui(1),
    )
    locale: str | None = Field(
        default=None,
        pattern=r"^(customer|[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*)$",
        title="Language of a localized value",
        description=(
            "For a localized field (a LocalizedString): customer takes the customer's locale, "
            "then its store's languages, then fallback_locale; or a fixed language such as "
            "de. Empty: the field is read as it is."
        ),
        json_schema_extra=_ui(2, examples=["customer", "de"]),
    )

    @field_validator("target")
    @classmethod
    def _not_the_match_key(cls, target: str) -> str:
        if target == "external_id":
            raise ValueError("external_id is set by `identity`, not by a field mapping")
        return target


def _crm_property(example: str) -> Any:
    """The first field of a rule about one CRM One contact property: its name."""
    return Field(
        min_length=1,
        title="CRM One property",
        description=f"Name of the contact property in CRM One, e.g. {example}.",
        json_schema_extra=_ui(0),
    )


class OwnershipRule(_Model):
    model_config = ConfigDict(title="Ownership rule")

    property: str = _crm_property("phone")
    owner: Owner = Field(
        title="Owner",
        description=(
            "commercetools: send when different; crm_one: send only while CRM One has no value; "
            "most_recent: send when the customer changed after the CRM value."
        ),
        json_schema_extra=_ui(1),
    )


class ConsentMapping(_Model):
    model_config = ConfigDict(title="Consent mapping")

    flag_field: str = Field(
        min_length=1,
        title="Opt-in flag field",
        description="Boolean field of the customer, e.g. custom.fields.newsletterOptIn.",
        json_schema_extra=_ui(0),
    )
    timestamp_field: str | None = Field(
        default=None,
        title="Opt-in time field",
        description="DateTime field; when absent the customer's lastModifiedAt is used.",
        json_schema_extra=_ui(1),
    )
    channel: Channel = Field(
        title="Channel",
        description="CRM One consent channel the flag grants or withdraws.",
        json_schema_extra=_ui(2),
    )
    purpose: str = Field(
        min_length=1,
        max_length=64,
        title="Purpose",
        description="CRM One consent purpose, e.g. marketing.",
        json_schema_extra=_ui(3),
    )


DEFAULT_CONSENTS = (
    ConsentMapping(
        flag_field="custom.fields.newsletterOptIn",
        timestamp_field="custom.fields.newsletterOptInAt",
        channel="email",
        purpose="marketing",
    ),
    ConsentMapping(
        flag_field="custom.fields.smsOptIn",
        timestamp_field="custom.fields.smsOptInAt",
        channel="sms",
        purpose="marketing",
    ),
)


class RouteProperty(_Model):
    model_config = ConfigDict(title="Property")

    property: str = _crm_property("sales_region")
    # The form offers text; a JSON config may also give a number or a boolean.
    value: Annotated[str | int | float | bool, WithJsonSchema({"type": "string"})] = Field(
        title="Value",
        description="Set on contacts of this store. Text is converted to the property's type "
        "in CRM One (number, boolean) when it reads as one.",
        json_schema_extra=_ui(1),
    )


def property_pairs(properties: Any) -> Any:
    """The first releases took `{"sales_region": "EU"}`: still read, as its pairs."""
    if isinstance(properties, Mapping):
        return [{"property": name, "value": value} for name, value in properties.items()]
    return properties


def upgrade_config(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A config of an earlier release, or one using a shorthand the docs allow, in the
    spec's shape, before anything validates it against the spec (Airbyte's spec check would
    refuse the object form of route properties, `routing` as a list of rules, a rule's
    `when` as one condition)."""
    config = dict(raw)
    routes = config.get("store_routing")
    if isinstance(routes, list):
        config["store_routing"] = [_with_property_pairs(route) for route in routes]
    routing = config.get("routing")
    if isinstance(routing, list):
        routing = {"rules": routing}
    if isinstance(routing, Mapping) and isinstance(routing.get("rules"), list):
        rules = [_with_property_pairs(rule) for rule in routing["rules"]]
        rules = [
            {**rule, "when": _spec_conditions(_conditions(rule["when"]))}
            if isinstance(rule, Mapping) and "when" in rule
            else rule
            for rule in rules
        ]
        config["routing"] = {**routing, "rules": rules}
    if "filters" in config:
        config["filters"] = _spec_conditions(config["filters"])
    return config


def _with_property_pairs(route: Any) -> Any:
    if isinstance(route, Mapping) and "properties" in route:
        return {**route, "properties": property_pairs(route["properties"])}
    return route


class _SetsProperties(_Model):
    """What a store route and a routing rule share: the properties they set."""

    properties: list[RouteProperty] = Field(
        default=[],
        title="Properties",
        description="Set on the contacts it applies to, e.g. sales_region = EU.",
        json_schema_extra=_ui(2),
    )

    @field_validator("properties", mode="before")
    @classmethod
    def _from_object_form(cls, properties: Any) -> Any:
        return property_pairs(properties)

    @field_validator("properties")
    @classmethod
    def _not_the_match_key(cls, properties: list[RouteProperty]) -> list[RouteProperty]:
        if any(item.property == "external_id" for item in properties):
            raise ValueError("must not set external_id (that is `identity`'s job)")
        _unique(properties, lambda item: item.property, "property")
        return properties

    @property
    def property_values(self) -> dict[str, Any]:
        """The properties it sets, by name."""
        return {item.property: item.value for item in self.properties}


class StoreRoute(_SetsProperties):
    model_config = ConfigDict(title="Store route")

    store_key: str = Field(
        min_length=1,
        title="Store key",
        description="Key of the commercetools store whose customers this route applies to.",
        json_schema_extra=_ui(0),
    )
    list_ids: list[Annotated[str, Field(min_length=1)]] = Field(
        default=[],
        title="CRM One list ids",
        description="Contacts of this store are added to these lists.",
        json_schema_extra=_ui(1),
    )

    def as_rule(self) -> RoutingRule:
        """The routing rule this store route is shorthand for."""
        return RoutingRule(
            when=[Condition(field="stores", in_=[self.store_key])],
            lists=self.list_ids,
            properties=self.properties,
        )


# A value a condition compares with; the form offers text.
ConditionValue = Annotated[str | int | float | bool, WithJsonSchema({"type": "string"})]
CONDITION_OPERATORS = ("in", "not_in", "exists")


class Condition(_Model):
    """One test on a customer field: `in` (its value, or one of its values, is listed),
    `not_in` (none is), or `exists` (it has a value: true; it has none: false)."""

    model_config = ConfigDict(title="Condition", populate_by_name=True)

    field: str = Field(
        pattern=r"^[A-Za-z0-9_$-]+(\.[A-Za-z0-9_$-]+)*$",
        title="Customer field",
        description=(
            "Dotted path in the customer: stores, country (of the billing address), locale, "
            "customerGroup.key, custom.fields.<name>, address.shipping.country, …"
        ),
        json_schema_extra=_ui(0, examples=["country", "stores", "custom.fields.region"]),
    )
    in_: list[ConditionValue] | None = Field(
        default=None,
        alias="in",
        min_length=1,
        title="In",
        description="The field's value (any of them, for a list such as stores) is one of these.",
        json_schema_extra=_ui(1),
    )
    not_in: list[ConditionValue] | None = Field(
        default=None,
        min_length=1,
        title="Not in",
        description="None of the field's values is one of these (a missing value is not in).",
        json_schema_extra=_ui(2),
    )
    exists: bool | None = Field(
        default=None,
        strict=True,
        title="Exists",
        description="true: the field has a value; false: it has none.",
        json_schema_extra=_ui(3),
    )

    @model_validator(mode="after")
    def _one_operator(self) -> Condition:
        operands = zip(CONDITION_OPERATORS, (self.in_, self.not_in, self.exists), strict=True)
        given = [op for op, value in operands if value is not None]
        if len(given) != 1:
            raise ValueError(
                f"a condition on {self.field!r} needs exactly one of in, not_in, exists"
                + (f" (got {', '.join(given)})" if given else "")
            )
        return self


def condition_text(value: Any) -> str:
    """A value as conditions compare it: text without regard to case; a boolean as
    true/false, a number in its shortest form (1.0 → 1)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        try:
            return format(Decimal(str(value)).normalize(), "f")
        except InvalidOperation:
            return str(value)
    return str(value).strip().casefold()


def _spec_conditions(conditions: Any) -> Any:
    """Conditions with their values as text (the spec offers text; comparing is by text)."""
    if not isinstance(conditions, list):
        return conditions
    shaped = []
    for condition in conditions:
        if isinstance(condition, Mapping):
            condition = dict(condition)
            for operator in ("in", "not_in"):
                values = condition.get(operator)
                if isinstance(values, list):
                    condition[operator] = [
                        condition_text(v) if isinstance(v, bool | int | float) else v
                        for v in values
                    ]
        shaped.append(condition)
    return shaped


def _conditions(value: Any) -> Any:
    """`when` may be one condition or a list of them (all must hold)."""
    return [value] if isinstance(value, Mapping) else value


class RoutingRule(_SetsProperties):
    model_config = ConfigDict(title="Routing rule")

    when: list[Condition] = Field(
        default=[],
        title="When",
        description="Conditions on the customer, all of which must hold (as in filters). "
        "Empty: every customer.",
        json_schema_extra=_ui(0),
    )
    lists: list[Annotated[str, Field(min_length=1)]] = Field(
        default=[],
        title="CRM One list ids",
        description="Contacts matching the rule are added to these lists.",
        json_schema_extra=_ui(1),
    )

    @field_validator("when", mode="before")
    @classmethod
    def _from_one_condition(cls, when: Any) -> Any:
        return _conditions(when)


class Routing(_Model):
    model_config = ConfigDict(title="Routing")

    mode: Literal["all_matches", "first_match"] = Field(
        default="all_matches",
        title="Mode",
        description="all_matches: every rule that matches applies (the first of them wins a "
        "property two set); first_match: only the first matching rule applies.",
        json_schema_extra=_ui(0),
    )
    rules: list[RoutingRule] = Field(
        default=[],
        title="Rules",
        description="Evaluated in order, after the store_routing shorthand.",
        json_schema_extra=_ui(1),
    )


def _unique(items: list[Any], key: Any, what: str) -> None:
    seen: set[Any] = set()
    for item in items:
        value = key(item)
        if value in seen:
            raise ValueError(f"{what} {value!r} appears more than once")
        seen.add(value)


# --- the configuration ---------------------------------------------------------------------


class DestinationConfig(_Model):
    model_config = ConfigDict(title="CRM One Destination Spec", extra="forbid", frozen=True)

    allow_private_network: bool = Field(
        default=False,
        strict=True,
        title="Allow a private network",
        description="Let base_url point at a private address (10/8, 172.16/12, 192.168/16, "
        "fc00::/7…), for a CRM One reached inside your network. Link-local and cloud "
        "metadata addresses are refused whatever this says.",
        json_schema_extra=_ui(40, "advanced"),
    )
    base_url: str = Field(
        title="CRM One API URL",
        description="Root of the API, e.g. https://acme.crmone.example/api (https; http only "
        "for localhost).",
        json_schema_extra=_ui(0, "connection", examples=["https://acme.crmone.example/api"]),
    )
    client_id: str = Field(
        min_length=1,
        title="Client ID",
        description="ID of the CRM One API client (Settings > API clients in CRM One).",
        json_schema_extra=_ui(1, "connection"),
    )
    client_secret: SecretStr = Field(
        title="Client secret",
        description="Secret of that API client. Stored as a secret; never logged.",
        json_schema_extra=_ui(2, "connection", airbyte_secret=True),
    )
    identity: Identity = Field(
        default=Identity(),
        title="Contact identity",
        description="Which customer field matches contacts (external_id).",
        json_schema_extra=_ui(3, "mapping"),
    )
    field_mappings: list[FieldMapping] = Field(
        default=[],
        title="Field mappings",
        description="Added to the default mapping; a target of the default replaces its source.",
        json_schema_extra=_ui(4, "mapping"),
    )
    ownership: list[OwnershipRule] = Field(
        default=[],
        title="Property ownership",
        description="Who owns each CRM One property; unlisted properties: commercetools.",
        json_schema_extra=_ui(5, "mapping"),
    )
    consents: list[ConsentMapping] = Field(
        default=list(DEFAULT_CONSENTS),
        title="Consent mappings",
        description="Customer opt-in fields that become CRM One consents. The form starts with "
        "the newsletter (email) and SMS opt-ins; an empty list is kept as written and turns "
        "consent sync off (check and every run then log that no consents are written).",
        json_schema_extra=_ui(6, "mapping"),
    )
    orders_as: Literal["activities", "objects", "both"] = Field(
        default="activities",
        title="Orders as",
        description="Timeline activities, records of the standard `orders` object, or both.",
        json_schema_extra=_ui(7, "mapping"),
    )
    guest_orders: Literal["create_contact", "match_by_email", "skip"] = Field(
        default="create_contact",
        title="Guest orders",
        description=(
            "Orders and carts without a customer: create_contact creates a contact by "
            "customerEmail when none matches; match_by_email only attaches to an existing one; "
            "skip writes nothing."
        ),
        json_schema_extra=_ui(8, "mapping"),
    )
    store_routing: list[StoreRoute] = Field(
        default=[],
        title="Store routing",
        description="Lists and properties for contacts of a commercetools store.",
        json_schema_extra=_ui(9, "mapping"),
    )
    deletions: Literal["archive", "erase", "ignore"] = Field(
        default="archive",
        title="Deleted customers",
        description="What a CustomerDeleted message does: archive, erase (GDPR) or nothing.",
        json_schema_extra=_ui(10, "behaviour"),
    )
    invalid_values: Literal["omit_field", "reject_record"] = Field(
        default="omit_field",
        title="Invalid optional values",
        description="omit_field writes the record without the value and journals a warning.",
        json_schema_extra=_ui(11, "behaviour"),
    )
    journal: JournalConfig = Field(
        default_factory=SqliteJournalConfig,
        title="Journal",
        description="Where the sync log and the retry queue are kept.",
        json_schema_extra=_ui(12, "journal", default={"type": "sqlite"}),
    )
    sync_log_retention_days: int = Field(
        default=30,
        ge=1,
        strict=True,
        title="Sync log retention (days)",
        description="Sync-log rows older than this are deleted at the end of each run.",
        json_schema_extra=_ui(13, "journal"),
    )
    redact_pii: bool = Field(
        default=True,
        strict=True,
        title="Redact personal data in the sync log",
        description="Personal values in logged request and response bodies become [redacted].",
        json_schema_extra=_ui(14, "journal"),
    )
    batch_size: int = Field(
        default=100,
        ge=1,
        strict=True,
        title="Batch size",
        description="Records per CRM One batch call (capped by the account's batch_max).",
        json_schema_extra=_ui(15, "advanced"),
    )
    concurrency: int = Field(
        default=4,
        ge=1,
        strict=True,
        title="Concurrency",
        description="Parallel calls (capped by the account's max_concurrency).",
        json_schema_extra=_ui(16, "advanced"),
    )
    dry_run: bool = Field(
        default=False,
        strict=True,
        title="Dry run",
        description="Read CRM One and journal what would change; write nothing.",
        json_schema_extra=_ui(17, "behaviour"),
    )
    retry_budget_seconds: int = Field(
        default=300,
        ge=1,
        le=86400,
        strict=True,
        title="Retry budget (seconds)",
        description=(
            "The longest one CRM One call keeps retrying (429, 5xx, timeouts). Past it the "
            "sync fails as transient and Airbyte resumes it from the last checkpoint."
        ),
        json_schema_extra=_ui(18, "advanced"),
    )
    stream_prefix: str | None = Field(
        default=None,
        title="Stream prefix",
        description=(
            "A prefix the connection adds to stream names (e.g. ct_). Without it, a stream "
            "named <anything>_customers is taken as customers."
        ),
        json_schema_extra=_ui(19, "advanced"),
    )
    carts_as: Literal["activities", "ignore"] = Field(
        default="activities",
        title="Carts as",
        description=(
            "activities: checkout_started for every cart with line items and a known buyer, "
            "cart_abandoned for an Active cart idle for abandoned_after_hours; ignore: nothing."
        ),
        json_schema_extra=_ui(20, "mapping"),
    )
    abandoned_after_hours: float = Field(
        default=24,
        gt=0,
        title="Abandoned after (hours)",
        description=(
            "An Active cart unchanged for this long (by the wall clock at the end of a run) "
            "gets its cart_abandoned activity, once."
        ),
        json_schema_extra=_ui(21, "behaviour"),
    )
    retry_max_attempts: int = Field(
        default=5,
        ge=1,
        strict=True,
        title="Retry queue: attempts before parking",
        description=(
            "A queued record is parked (kept for people, no longer re-sent) after this many "
            "failed attempts."
        ),
        json_schema_extra=_ui(22, "advanced"),
    )
    retry_max_days: float = Field(
        default=7,
        gt=0,
        title="Retry queue: days before parking",
        description="A queued record still failing this many days after its first failure is "
        "parked.",
        json_schema_extra=_ui(23, "advanced"),
    )
    retry_backoff_hours: float = Field(
        default=1,
        ge=0,
        title="Retry queue: first back-off (hours)",
        description=(
            "Wait before the first re-send of a queued record; doubles on every further "
            "attempt (1, 2, 4 … hours). Records waiting for a contact are re-sent when it is "
            "written instead."
        ),
        json_schema_extra=_ui(24, "advanced"),
    )

    max_line_bytes: int = Field(
        default=DEFAULT_MAX_LINE_BYTES,
        ge=1024,
        strict=True,
        title="Largest input record (bytes)",
        description="A record longer than this on the destination's input is not read: it is "
        "queued as rejected (input_too_large) and the run goes on. Default 16 MiB.",
        json_schema_extra=_ui(25, "advanced"),
    )

    filters: list[Condition] = Field(
        default=[],
        title="Filters",
        description=(
            "Only customers meeting every condition are written (with their orders, carts, "
            "payments and consents); e.g. country in [DE, AT]. Empty: every customer."
        ),
        json_schema_extra=_ui(26, "mapping"),
    )
    on_leave: Literal["keep", "archive", "remove_from_lists"] = Field(
        default="keep",
        title="When a contact stops matching the filters",
        description=(
            "keep: leave it as it is; archive: archive it in CRM One; remove_from_lists: "
            "take it out of the lists routing added it to."
        ),
        json_schema_extra=_ui(27, "behaviour"),
    )
    routing: Routing = Field(
        default=Routing(),
        title="Routing",
        description="Lists and properties for customers matching conditions on any field "
        "(store_routing is a shorthand for rules on stores).",
        json_schema_extra=_ui(28, "mapping"),
    )
    lifecycle_stage: bool = Field(
        default=True,
        strict=True,
        title="Set lifecycle_stage",
        description=(
            "subscriber (a granted marketing consent, no order), customer (one order), "
            "repeat_customer (two or more), lead otherwise; subject to ownership."
        ),
        json_schema_extra=_ui(29, "mapping"),
    )
    fallback_locale: str = Field(
        default="en",
        pattern=r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$",
        title="Fallback language",
        description="Language of localized values when neither the customer's locale nor "
        "its store's languages have one.",
        json_schema_extra=_ui(30, "mapping"),
    )

    @field_validator("routing", mode="before")
    @classmethod
    def _rules_alone(cls, routing: Any) -> Any:
        """`routing` given as a list is its rules (mode all_matches)."""
        return {"rules": routing} if isinstance(routing, list) else routing

    @property
    def routing_rules(self) -> list[RoutingRule]:
        """Every routing rule in order: the store_routing shorthand first, then `routing`."""
        return [route.as_rule() for route in self.store_routing] + list(self.routing.rules)

    @property
    def routes(self) -> bool:
        """Does anything route (lists or properties by rule)?"""
        return bool(self.store_routing or self.routing.rules)

    @field_validator("base_url")
    @classmethod
    def _service_url(cls, url: str, info: ValidationInfo) -> str:
        checked = check_service_url(url)
        check_service_address(checked, bool(info.data.get("allow_private_network")))
        return checked

    @field_validator("client_id")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()

    @field_validator("client_secret")
    @classmethod
    def _secret_not_blank(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("must not be blank")
        return value

    @field_validator("journal", mode="before")
    @classmethod
    def _journal_type_from_keys(cls, value: Any) -> Any:
        """A journal without `type` is postgres when it has a `dsn`, else sqlite. Anything but
        an object (say, a DSN string) is refused here, without quoting it."""
        if not isinstance(value, Mapping):
            raise ValueError(JOURNAL_SHAPE)
        if "type" not in value:
            value = {**value, "type": "postgres" if "dsn" in value else "sqlite"}
        # the Airbyte form may keep the fields of the type it was switched away from
        other = JOURNAL_FIELDS_OF.get("sqlite" if value["type"] == "postgres" else "postgres")
        own = JOURNAL_FIELDS_OF.get(value["type"], frozenset())
        return {key: item for key, item in value.items() if key in own or key not in (other or ())}

    @field_validator("ownership")
    @classmethod
    def _one_owner_per_property(cls, rules: list[OwnershipRule]) -> list[OwnershipRule]:
        _unique(rules, lambda rule: rule.property, "property")
        return rules

    @field_validator("field_mappings")
    @classmethod
    def _one_source_per_target(cls, mappings: list[FieldMapping]) -> list[FieldMapping]:
        _unique(mappings, lambda mapping: mapping.target, "target")
        return mappings

    @field_validator("consents")
    @classmethod
    def _one_mapping_per_consent(cls, consents: list[ConsentMapping]) -> list[ConsentMapping]:
        _unique(consents, lambda c: (c.channel, c.purpose), "channel/purpose")
        return consents

    @field_validator("store_routing")
    @classmethod
    def _one_route_per_store(cls, routes: list[StoreRoute]) -> list[StoreRoute]:
        _unique(routes, lambda route: route.store_key, "store_key")
        return routes

    @model_validator(mode="after")
    def _remember_secrets(self) -> DestinationConfig:
        """From here on the secret, its encoded forms and the DSN's password are filtered out
        of every log line, message and journal row (`connectors_common.secrets`)."""
        secrets.remember_client(self.client_id, self.client_secret.get_secret_value())
        if isinstance(self.journal, PostgresJournalConfig):
            secrets.remember_dsn(self.journal.dsn.get_secret_value())
        return self

    @property
    def writes_order_objects(self) -> bool:
        """Orders become `orders` objects (`orders_as` objects or both)."""
        return self.orders_as in ("objects", "both")

    @property
    def writes_order_activities(self) -> bool:
        """Orders become timeline activities (`orders_as` activities or both)."""
        return self.orders_as in ("activities", "both")

    # --- entry points ----------------------------------------------------------------------

    @classmethod
    def parse_config(cls, config: Mapping[str, Any]) -> DestinationConfig:
        """The validated config; `ConfigError` naming every bad field otherwise."""
        if not isinstance(config, Mapping):
            raise ConfigError([("config", "must be a JSON object")])
        try:
            return cls.model_validate(dict(config))
        except ValidationError as error:
            raise ConfigError(_problems(error)) from None


def consent_notice(config: DestinationConfig) -> str | None:
    """An empty `consents` turns consent sync off: said at check and at every run, never silent."""
    if config.consents:
        return None
    return (
        "consents is empty: no consents are written to CRM One. Remove the key (or restore the "
        "form's default mappings) to sync the newsletter and SMS opt-ins."
    )


def _problems(error: ValidationError) -> list[tuple[str, str]]:
    problems = []
    for item in error.errors(include_url=False):
        field = _field_name(item["loc"])
        reason = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":  # never quoted: it may be a mistyped secret
            problems.append((field, unknown_key_reason(item["loc"])))
            continue
        if item["type"] == "missing":
            reason = "is required"
        elif field not in UNQUOTED_FIELDS and _printable(item.get("input")):
            reason = f"{reason} (got {item['input']!r})"
        problems.append((field, reason))
    return problems


def unknown_key_reason(loc: tuple[int | str, ...]) -> str:
    """`unknown key; did you mean 'filters'?`: the nearest key the model at that place knows."""
    known = known_keys(loc[:-1])
    if not known:
        return "unknown key"
    nearest = max(known, key=lambda key: _likeness(str(loc[-1]), key))
    return f"unknown key; did you mean '{nearest}'?"


def _likeness(typed: str, key: str) -> float:
    """How alike two keys are: the best pair of their `_`-separated words plus the whole
    (`only_stores` is nearest `store_routing`, `client_secrett` nearest `client_secret`)."""

    def ratio(a: str, b: str) -> float:
        return difflib.SequenceMatcher(None, a.lower(), b.lower()).ratio()

    words = max(ratio(a, b) for a in typed.split("_") for b in key.split("_"))
    return words + ratio(typed, key)


def known_keys(loc: tuple[int | str, ...]) -> list[str]:
    """The keys of the object at `loc` (a pydantic error location) of a DestinationConfig."""
    node: Any = DestinationConfig
    for part in loc:
        node = _inside(node, part)
        if node is None:
            return []
    models = _models_of(node)
    if len(models) != 1:
        return []
    return [info.alias or name for name, info in models[0].model_fields.items()]


def _inside(node: Any, part: int | str) -> Any:
    """The annotation one step into `node` (a model or an annotation) at `part`."""
    if isinstance(part, int):
        for candidate in _flatten(node):
            if typing.get_origin(candidate) in (list, tuple):
                return typing.get_args(candidate)[0]
        return None
    for model in _models_of(node):
        for name, info in model.model_fields.items():
            if part in (name, info.alias):
                return info.annotation
    for model in _models_of(node):  # a union's tag: the model whose `type` is that literal
        tag = model.model_fields.get("type")
        if tag is not None and tag.default == part:
            return model
    return None


def _flatten(node: Any) -> list[Any]:
    """An annotation without its Annotated/Optional/union wrapping, as a list of options."""
    origin = typing.get_origin(node)
    if origin is Annotated:
        return _flatten(typing.get_args(node)[0])
    if origin in (typing.Union, types.UnionType):
        return [option for arg in typing.get_args(node) for option in _flatten(arg)]
    return [node]


def _models_of(node: Any) -> list[type[BaseModel]]:
    return [
        option
        for option in _flatten(node)
        if isinstance(option, type) and issubclass(option, BaseModel)
    ]


def _field_name(loc: tuple[int | str, ...]) -> str:
    """`('journal', 'postgres', 'dsn')` → `journal.dsn`; `('ownership', 0, 'owner')` →
    `ownership[0].owner` (the union tag pydantic adds is not a field)."""
    name = ""
    for index, part in enumerate(loc):
        if isinstance(part, int):
            name += f"[{part}]"
        elif index > 0 and loc[index - 1] == "journal" and part in ("sqlite", "postgres"):
            continue
        else:
            name += f".{part}" if name else part
    return name or "config"


def _printable(value: Any) -> bool:
    if isinstance(value, bool | int | float):
        return True
    return isinstance(value, str) and len(value) <= 200 and "@" not in value


# --- the spec ------------------------------------------------------------------------------


def spec_schema() -> dict[str, Any]:
    """The connector's `connectionSpecification`: plain JSON Schema the Airbyte UI renders
    (references inlined, the journal as a `oneOf` keyed by a `type` const, no `anyOf`)."""
    schema = DestinationConfig.model_json_schema(mode="validation")
    definitions = schema.pop("$defs", {})
    schema = _airbyte_shape(schema, definitions)
    schema["$schema"] = "http://json-schema.org/draft-07/schema#"
    schema["required"] = ["base_url", "client_id", "client_secret"]
    schema["groups"] = [{"id": group, "title": title} for group, title in FORM_GROUPS]
    return schema


def _airbyte_shape(node: Any, definitions: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_airbyte_shape(item, definitions) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = copy.deepcopy(definitions[node["$ref"].rsplit("/", 1)[-1]])
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    # unknown keys are refused by `parse_config` (naming the key and the nearest known one),
    # not by the CDK's spec validation, which runs first and would say less
    node = {
        key: value
        for key, value in node.items()
        if key != "discriminator" and not (key == "additionalProperties" and value is False)
    }
    if "anyOf" in node:
        branches = [branch for branch in node["anyOf"] if branch != {"type": "null"}]
        rest = {key: value for key, value in node.items() if key != "anyOf"}
        if len(branches) == 1:  # Optional[X] → X (absent means "not set")
            node = {**branches[0], **rest}
            if node.get("default", "") is None:
                node.pop("default")
        else:
            node = {**rest, "oneOf": branches}
    shaped = {key: _airbyte_shape(value, definitions) for key, value in node.items()}
    if "oneOf" in shaped:  # each option carries its discriminator as a default const
        if all(option.get("type") == "object" for option in shaped["oneOf"]):
            shaped.setdefault("type", "object")
        for option in shaped["oneOf"]:
            type_field = option.get("properties", {}).get("type")
            if type_field and "const" in type_field:
                type_field.setdefault("default", type_field["const"])
                option.setdefault("required", [])
                if "type" not in option["required"]:
                    option["required"].insert(0, "type")
    return shaped
