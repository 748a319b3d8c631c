"""The destination's configuration: one pydantic model that is both the parser and the spec.

The keys of `../shared/CONFIG.md` are a public interface (`base_url`, `client_id`,
`client_secret`, `journal`, `ownership`, `deletions`, `orders_as`, `dry_run`); every other key
has a default, so a config of the connection and a journal path works untouched.

Parsing is lenient about keys it does not know (they are ignored) and strict about the values
of keys it does know: a wrong type or an out-of-range value is a `ConfigError` that names the
field, never a silent coercion. Secret values never appear in an error message.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    WithJsonSchema,
    field_validator,
)

from connectors_common import check_service_url

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
    model_config = ConfigDict(extra="ignore", frozen=True)


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
            "Dotted path in the customer, e.g. custom.fields.loyaltyTier; address.* is the "
            "default billing (else first) address."
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
    """A config of an earlier release in today's shape, before anything validates it against
    the spec (Airbyte's spec check would refuse the object form of route properties)."""
    config = dict(raw)
    routes = config.get("store_routing")
    if isinstance(routes, list):
        config["store_routing"] = [
            {**route, "properties": property_pairs(route["properties"])}
            if isinstance(route, Mapping) and "properties" in route
            else route
            for route in routes
        ]
    return config


class StoreRoute(_Model):
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
    properties: list[RouteProperty] = Field(
        default=[],
        title="Properties",
        description="Set on contacts of this store, e.g. sales_region = EU.",
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
        """The properties this route sets, by name."""
        return {item.property: item.value for item in self.properties}


def _unique(items: list[Any], key: Any, what: str) -> None:
    seen: set[Any] = set()
    for item in items:
        value = key(item)
        if value in seen:
            raise ValueError(f"{what} {value!r} appears more than once")
        seen.add(value)


# --- the configuration ---------------------------------------------------------------------


class DestinationConfig(_Model):
    model_config = ConfigDict(title="CRM One Destination Spec", extra="ignore", frozen=True)

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

    @field_validator("base_url")
    @classmethod
    def _service_url(cls, url: str) -> str:
        return check_service_url(url)

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
            return {**value, "type": "postgres" if "dsn" in value else "sqlite"}
        return value

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
        if item["type"] == "missing":
            reason = "is required"
        elif field not in UNQUOTED_FIELDS and _printable(item.get("input")):
            reason = f"{reason} (got {item['input']!r})"
        problems.append((field, reason))
    return problems


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
    node = {key: value for key, value in node.items() if key != "discriminator"}
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
