"""Per-country material for seeded people: names, addresses, phones in national format."""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class Country:
    code: str
    locale: str
    cities: tuple[tuple[str, str, str | None], ...]  # (city, postal code prefix, region)
    streets: tuple[str, ...]
    postal_digits: int
    phones: tuple[str, ...]  # national format; each "#" is a random digit
    mobiles: tuple[str, ...]


COUNTRIES = {
    "DE": Country(
        "DE",
        "de-DE",
        (("Berlin", "10", None), ("Hamburg", "20", None), ("München", "80", None)),
        ("Hauptstraße", "Schillerstraße", "Gartenweg", "Bahnhofstraße"),
        5,
        ("030 #######",),
        ("0151 ########", "0171 #######"),
    ),
    "FR": Country(
        "FR",
        "fr-FR",
        (("Paris", "75", None), ("Lyon", "69", None), ("Marseille", "13", None)),
        ("Rue de la Paix", "Avenue Victor Hugo", "Boulevard Voltaire"),
        5,
        ("01 ## ## ## ##",),
        ("06 12 ## ## ##", "07 81 ## ## ##"),
    ),
    "NL": Country(
        "NL",
        "nl-NL",
        (("Amsterdam", "10", None), ("Utrecht", "35", None)),
        ("Keizersgracht", "Damrak", "Oudegracht"),
        4,
        ("020 ### ####",),
        ("06 12######", "06 2#######"),
    ),
    "AT": Country(
        "AT",
        "de-AT",
        (("Wien", "10", None), ("Graz", "80", None)),
        ("Ringstraße", "Mariahilfer Straße"),
        4,
        ("01 5######",),
        ("0664 #######",),
    ),
    "US": Country(
        "US",
        "en-US",
        (("New York", "100", "NY"), ("San Francisco", "941", "CA"), ("Austin", "787", "TX")),
        ("Main Street", "Broadway", "Market Street", "Congress Avenue"),
        5,
        ("(212) 736-####", "(415) 736-####"),
        ("(646) 736-####",),
    ),
    "GB": Country(
        "GB",
        "en-GB",
        (("London", "SW1A", None), ("Manchester", "M1", None)),
        ("High Street", "Station Road", "Church Lane"),
        0,
        ("020 7946 ####",),
        ("07911 1#####", "07400 1#####"),
    ),
}
STORE_COUNTRIES = {"eu-web": ("DE", "DE", "FR", "NL", "AT"), "us-web": ("US",), "uk-web": ("GB",)}
STORE_CURRENCIES = {"eu-web": "EUR", "us-web": "USD", "uk-web": "GBP"}
CURRENCY_OF_COUNTRY = {"US": "USD", "GB": "GBP"}

FIRST_NAMES = (
    "Anna",
    "Ben",
    "Chloé",
    "Dmitri",
    "Eva",
    "Femi",
    "Greta",
    "Hiro",
    "Inès",
    "Jonas",
    "Katarzyna",
    "Liam",
    "Mia",
    "Noah",
    "Olivia",
    "Pablo",
    "Quinn",
    "Rosa",
    "Søren",
    "Thu",
)
LAST_NAMES = (
    "Müller",
    "Smith",
    "Dubois",
    "Rossi",
    "Nowak",
    "García",
    "Okafor",
    "Tanaka",
    "Jansen",
    "Schmidt",
    "Martin",
    "Johnson",
    "O'Brien",
    "Van der Berg",
    "Huber",
    "Lefèvre",
)
EMAIL_DOMAINS = ("example.com", "example.org", "example.net", "mail.example")
_ASCII = str.maketrans(
    {
        "ä": "ae",
        "ö": "oe",
        "ü": "ue",
        "ß": "ss",
        "é": "e",
        "è": "e",
        "ç": "c",
        "í": "i",
        "ø": "o",
        "'": "",
        " ": "",
    }
)


def country_for_store(store_key: str | None, rng: random.Random) -> Country:
    return COUNTRIES[rng.choice(STORE_COUNTRIES.get(store_key or "", ("DE", "FR", "NL")))]


def currency_for(store_key: str | None, country: str) -> str:
    return STORE_CURRENCIES.get(store_key or "", CURRENCY_OF_COUNTRY.get(country, "EUR"))


def digits(pattern: str, rng: random.Random) -> str:
    """`pattern` with each "#" replaced by a random digit."""
    count = pattern.count("#")
    return pattern.replace("#", "{}").format(*f"{rng.randrange(10**count):0{count}d}")


def postal_code(country: Country, rng: random.Random) -> tuple[str, str, str | None]:
    city, prefix, region = rng.choice(country.cities)
    if country.code == "GB":
        return city, f"{prefix} {rng.randrange(1, 9)}AA", region
    return city, prefix + digits("#" * (country.postal_digits - len(prefix)), rng), region


@lru_cache(maxsize=4096)
def email_local(first: str, last: str) -> str:
    return f"{first}.{last}".lower().translate(_ASCII)
