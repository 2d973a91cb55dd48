"""Messages workers post back to the app. Workers never touch widgets (Harlequin's rule)."""
from __future__ import annotations

from textual.message import Message


class SignInResult(Message):
    def __init__(self, staff_id: int | None) -> None:
        super().__init__()
        self.staff_id = staff_id


class SaleDone(Message):
    def __init__(self, uid: str, number: str, change_paisa: int, cash: bool) -> None:
        super().__init__()
        self.uid, self.number, self.change_paisa, self.cash = uid, number, change_paisa, cash


class ReturnDone(Message):
    """A refund or an exchange committed; `uids` are its documents, printed in order."""

    def __init__(self, uids: list[str], text: str) -> None:
        super().__init__()
        self.uids, self.text = uids, text


class ActionFailed(Message):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class PrintDone(Message):
    def __init__(self, what: str, ok: bool, error: str | None, warning: str | None = None,
                 uid: str | None = None) -> None:
        super().__init__()
        self.what, self.ok, self.error, self.warning, self.uid = what, ok, error, warning, uid
