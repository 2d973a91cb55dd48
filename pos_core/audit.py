"""Who did what, and who approved it."""
from __future__ import annotations

from .models import AuditEvent


def log(action: str, staff_id: int | None, doc_ref: str = "", approver_id: int | None = None,
        **detail) -> None:
    AuditEvent.create(action=action, staff=staff_id, approver=approver_id, doc_ref=doc_ref,
                      detail=detail or None)
