"""A Shopify address's city, mapped to a courier's own city list.

Customers type cities as they like ("Lhr", "Pindi", "Faisalbad", "D.I.Khan"). A courier books only
against its own list (Leopards by city id, PostEx by its operational city name). `match` answers
with the one city when the name (or a known short form) is exactly on the list, and otherwise
with the candidates for a person to choose from: a guess is never booked silently, because a parcel
sent to Pindi Bhattian instead of Rawalpindi comes back a week later.

The built-in lists are a subset of each courier's published list (enough for the cities our
retailers ship to most). The agent reads each courier's full list from its API once a day and
stores it (`store_cities`, in the `courier_cities` heartbeat row the till reads); a stored list
is used in place of the built-in one. `load_cities` replaces the list in this process only.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

from . import db
from .errors import InvalidInput

STORE = "courier_cities"     # the AgentHeartbeat row holding the lists the agent read


@dataclass(frozen=True)
class City:
    code: str     # what the courier's API wants: Leopards' numeric id, PostEx's city name
    name: str


@dataclass(frozen=True)
class CityMatch:
    typed: str
    city: City | None                       # set only when there is no doubt
    choices: tuple[City, ...] = field(default=())

    @property
    def ambiguous(self) -> bool:
        return self.city is None and len(self.choices) > 0

    @property
    def found(self) -> bool:
        return self.city is not None


_LEOPARDS = [
    ("789", "Lahore"), ("475", "Karachi"), ("434", "Islamabad"), ("1045", "Rawalpindi"),
    ("1001", "Pindi Bhattian"), ("1002", "Pindi Gheb"), ("311", "Faisalabad"), ("769", "Multan"),
    ("402", "Hyderabad"), ("334", "Gujranwala"), ("335", "Gujrat"), ("1082", "Sialkot"),
    ("1004", "Peshawar"), ("1060", "Quetta"), ("95", "Bahawalpur"), ("1115", "Sargodha"),
    ("208", "Dera Ismail Khan"), ("207", "Dera Ghazi Khan"), ("16", "Abbottabad"), ("1097", "Sheikhupura"),
    ("1112", "Sahiwal"), ("1113", "Sadiqabad"), ("1066", "Rahim Yar Khan"), ("560", "Kasur"),
    ("768", "Mardan"), ("1160", "Sukkur"), ("519", "Jhelum"), ("1135", "Okara"),
]
_POSTEX = [
    "Lahore", "Karachi", "Islamabad", "Rawalpindi", "Pindi Bhattian", "Faisalabad", "Multan",
    "Hyderabad", "Gujranwala", "Gujrat", "Sialkot", "Peshawar", "Quetta", "Bahawalpur", "Sargodha",
    "D.I. Khan", "D.G. Khan", "Abbottabad", "Sheikhupura", "Sahiwal", "Sadiqabad", "Rahim Yar Khan",
    "Kasur", "Mardan", "Sukkur", "Jhelum", "Okara",
]
_CITIES: dict[str, list[City]] = {
    "leopards": [City(c, n) for c, n in _LEOPARDS],
    "postex": [City(n, n) for n in _POSTEX],
}

# Short forms and common spellings people type, normalised -> normalised full name.
ALIASES = {
    "lhr": "lahore", "khi": "karachi", "isb": "islamabad", "isl": "islamabad", "rwp": "rawalpindi",
    "fsd": "faisalabad", "faisalbad": "faisalabad", "lyallpur": "faisalabad", "mux": "multan",
    "hyd": "hyderabad", "grw": "gujranwala", "skt": "sialkot", "pew": "peshawar", "psh": "peshawar",
    "dikhan": "dera ismail khan", "di khan": "dera ismail khan", "dgkhan": "dera ghazi khan",
    "dg khan": "dera ghazi khan", "ryk": "rahim yar khan", "abbotabad": "abbottabad",
}
# A short form that means several places: the person must choose.
AMBIGUOUS = {"pindi": ("rawalpindi", "pindi bhattian", "pindi gheb")}


def couriers() -> list[str]:
    return sorted(_CITIES)


def cities(courier: str) -> list[City]:
    if courier not in _CITIES:
        raise InvalidInput(f"no city list for courier {courier!r} (known: {', '.join(couriers())})")
    stored = _stored().get(courier)
    if stored:
        return [City(str(c), str(n)) for c, n in stored]
    return list(_CITIES[courier])


def store_cities(courier: str, rows: list[tuple[str, str]]) -> int:
    """Keep the list a courier's API returned, for every process on this database."""
    from . import heartbeat
    if courier not in _CITIES:
        raise InvalidInput(f"no city list for courier {courier!r}")
    clean = sorted({(str(c).strip(), str(n).strip()) for c, n in rows if str(c).strip() and str(n).strip()},
                   key=lambda r: r[1])
    if len(clean) < 5:
        raise InvalidInput(f"{courier} returned {len(clean)} cities; keeping the list we have")
    heartbeat.beat(STORE, contact=True, detail={courier: [list(r) for r in clean]})
    return len(clean)


def _stored() -> dict:
    if db.database.obj is None:       # no database open (a pure lookup): the built-in lists
        return {}
    from . import heartbeat
    return heartbeat.get_detail(STORE)


def load_cities(courier: str, rows: list[tuple[str, str]]) -> None:
    """Replace a courier's list with what its API returned: (code, name) pairs."""
    if not rows:
        raise InvalidInput(f"{courier} returned an empty city list; keeping the one we have")
    _CITIES[courier] = [City(str(c), str(n)) for c, n in rows]


def normalise(name: str) -> str:
    s = re.sub(r"[^a-z ]+", " ", (name or "").lower().replace(".", " "))
    s = re.sub(r"\b(city|district|cantt|pakistan)\b", " ", s)
    s = " ".join(s.split())
    # "d i khan" -> "di khan"; "d g khan" -> "dg khan"
    s = re.sub(r"\b([a-z]) ([a-z])\b(?= khan)", r"\1\2", s)
    return s


def _expand(norm: str) -> str:
    """D.I. Khan / D.G. Khan in a list are written short; compare them in full."""
    return ALIASES.get(norm, norm)


def match(courier: str, typed: str) -> CityMatch:
    listed = cities(courier)
    norm = normalise(typed)
    if not norm:
        return CityMatch(typed, None, ())
    by_name: dict[str, list[City]] = {}
    for c in listed:
        by_name.setdefault(_expand(normalise(c.name)), []).append(c)
    if norm in AMBIGUOUS:
        options = tuple(c for n in AMBIGUOUS[norm] for c in by_name.get(n, []))
        return CityMatch(typed, None, options)
    full = _expand(norm)
    exact = by_name.get(full, [])
    if len(exact) == 1:
        return CityMatch(typed, exact[0], ())
    if exact:
        return CityMatch(typed, None, tuple(exact))
    # Not on the list as typed: offer what it could be, closest first, never choose.
    words = [n for n in by_name if re.search(rf"\b{re.escape(full)}\b", n)]
    close = difflib.get_close_matches(full, list(by_name), n=5, cutoff=0.75)
    seen, options = set(), []
    for n in close + words:
        if n not in seen:
            seen.add(n)
            options.extend(by_name[n])
    return CityMatch(typed, None, tuple(options))


def find(courier: str, code: str) -> City:
    """The city a person chose, by the courier's code (or name)."""
    for c in cities(courier):
        if c.code == code or normalise(c.name) == normalise(code):
            return c
    raise InvalidInput(f"{code!r} is not on {courier}'s city list")
