"""What the fake FBR remembers: accepted invoices, the number sequence, request counts.

Accepted invoices can be persisted to ``<data_dir>/fbr-ims-invoices.json`` so a
restarted simulator still knows every fiscal number it issued (the real FBR
never forgets one, and the sync agent's reconciliation depends on that).
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections import Counter
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterator

# Pakistan Standard Time: UTC+5, no DST. Fiscal numbers embed local time.
PKT = timezone(timedelta(hours=5), "PKT")
DATA_FILE = "fbr-ims-invoices.json"
TEST_SUFFIX = "*test*"


class InvoiceStore:
    """Thread-safe record of accepted invoices.

    Callers that must check-then-act (duplicate USIN, credit totals, then
    store) hold ``transaction()`` around the whole sequence so two concurrent
    requests for one USIN cannot both pass the duplicate check. Methods marked
    "under transaction" assume the caller holds it.
    """

    def __init__(self, data_dir: str | os.PathLike | None = None) -> None:
        self._lock = threading.RLock()
        self._records: list[dict[str, Any]] = []
        self._seq = 0
        self._path = Path(data_dir) / DATA_FILE if data_dir else None
        self._requests: Counter[str] = Counter()
        if self._path is not None:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            self._load()

    # -- requests -------------------------------------------------------
    def count_request(self, path: str) -> None:
        with self._lock:
            self._requests[path] += 1

    def request_counts(self) -> dict[str, Any]:
        with self._lock:
            return {"total": sum(self._requests.values()), "by_path": dict(self._requests)}

    # -- invoices -------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator["InvoiceStore"]:
        with self._lock:
            yield self

    def find(self, posid: int, usin: str) -> dict[str, Any] | None:
        """The first accepted invoice with this POSID and USIN (under transaction)."""
        for record in self._records:
            if record["POSID"] == posid and record["USIN"] == usin:
                return record
        return None

    def credited_against(self, posid: int, ref_usin: str) -> Decimal:
        """Sum of TotalBillAmount of credit notes already accepted for one original."""
        return sum(
            (Decimal(r["TotalBillAmount"]) for r in self._records
             if r["POSID"] == posid and r["RefUSIN"] == ref_usin and r["InvoiceType"] == 3),
            Decimal(0),
        )

    def issue_number(self, posid: int, now: datetime, test: bool) -> str:
        """A new fiscal number: <POSID><YYMMDDHHmmss><seq> (reference §5.4), unique
        because the sequence is global and persisted. Test numbers end in *test*."""
        self._seq += 1
        number = f"{posid}{now.astimezone(PKT):%y%m%d%H%M%S}{self._seq:03d}"
        return number + TEST_SUFFIX if test else number

    def add(self, record: dict[str, Any]) -> None:
        """Store an accepted invoice and persist it (under transaction)."""
        self._records.append(record)
        self._save()

    def mark_repeat(self, record: dict[str, Any]) -> None:
        record["repeats"] = record.get("repeats", 0) + 1
        self._save()

    def invoices(self, posid: int | None = None, usin: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [json.loads(json.dumps(r)) for r in self._records
                    if (posid is None or r["POSID"] == posid) and (usin is None or r["USIN"] == usin)]

    def clear(self) -> None:
        """Forget everything, including on disk (tests sharing one server)."""
        with self._lock:
            self._records.clear()
            self._requests.clear()
            self._seq = 0
            self._save()

    # -- persistence ----------------------------------------------------
    def _load(self) -> None:
        if self._path is None or not self._path.exists():
            return
        data = json.loads(self._path.read_text(encoding="utf-8"))
        self._records = list(data.get("invoices", []))
        self._seq = int(data.get("seq", len(self._records)))

    def _save(self) -> None:
        if self._path is None:
            return
        data = {"version": 1, "seq": self._seq, "invoices": self._records}
        # Write a temp file in the same directory, fsync, then rename over the
        # old one: a crash leaves either the old or the new file, never half.
        fd, tmp = tempfile.mkstemp(dir=self._path.parent, prefix=".fbr-ims-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle, ensure_ascii=False, indent=1)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self._path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
