"""A subset of Shopify's search syntax, enough for the sync agent's filters.

Supported: `field:value`, `field:>value` / `>=` / `<` / `<=` (timestamps and numbers),
quoted values ('...' or "..."), comma lists (`status:active,draft`), trailing `*` prefix match,
implicit AND between terms, `OR`, `NOT` / `-` negation, and bare words (matched against the
resource's text). A term on a field the resource does not support is ignored, as Shopify
ignores unknown search fields (it only adds a warning).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Callable, Iterable

from .state import parse_time

TOKEN_RE = re.compile(r"""\s*(-?[\w.]+:(?:>=|<=|>|<|=)?(?:'[^']*'|"[^"]*"|[^\s()]*)|\(|\)|'[^']*'|"[^"]*"|[^\s()]+)""")
TERM_RE = re.compile(r"""^(?P<neg>-)?(?P<field>[\w.]+):(?P<op>>=|<=|>|<|=)?(?P<value>.*)$""", re.S)


@dataclass
class Term:
    field: str | None   # None = free text
    op: str
    value: str
    negate: bool = False


class SearchError(ValueError):
    pass


def parse(query: str | None) -> list[list[Term]]:
    """Disjunctive normal form: a list of OR-groups, each a list of AND-ed terms."""
    if not query or not query.strip():
        return [[]]
    groups: list[list[Term]] = [[]]
    negate_next = False
    for raw in TOKEN_RE.findall(query):
        if raw in ("(", ")"):
            continue  # parentheses are rare in our filters; treated as grouping-free
        if raw == "OR":
            groups.append([])
            continue
        if raw == "AND":
            continue
        if raw == "NOT":
            negate_next = True
            continue
        m = TERM_RE.match(raw)
        if m:
            value = m.group("value")
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            term = Term(m.group("field").lower(), m.group("op") or "=", value, bool(m.group("neg")))
        else:
            neg = raw.startswith("-") and len(raw) > 1
            text = raw[1:] if neg else raw
            term = Term(None, "=", text.strip("'\""), neg)
        term.negate ^= negate_next
        negate_next = False
        groups[-1].append(term)
    return groups


def _compare(actual, op: str, wanted: str) -> bool:
    if actual is None:
        return False
    if isinstance(actual, datetime):
        try:
            target = parse_time(wanted)
        except ValueError as exc:
            raise SearchError(f"invalid date {wanted!r}") from exc
    elif isinstance(actual, (int, float)) and not isinstance(actual, bool):
        try:
            target = float(wanted)
        except ValueError:
            return False
    else:
        a = str(actual).lower()
        options = [w.strip().lower() for w in wanted.split(",")]
        if op != "=":
            return False
        return any(a.startswith(o[:-1]) if o.endswith("*") else a == o for o in options)
    return {"=": actual == target, ">": actual > target, ">=": actual >= target,
            "<": actual < target, "<=": actual <= target}[op]


def matches(groups: list[list[Term]], fields: dict[str, Callable[[], Iterable]], text: Callable[[], str]) -> bool:
    """`fields` maps a search field to a function giving the resource's values for it."""
    for group in groups:
        ok = True
        for term in group:
            if term.field is None:
                hit = term.value.lower() in text().lower()
            elif term.field in fields:
                hit = any(_compare(v, term.op, term.value) for v in fields[term.field]())
            else:
                continue  # unknown field: ignored
            if hit == term.negate:
                ok = False
                break
        if ok:
            return True
    return False
