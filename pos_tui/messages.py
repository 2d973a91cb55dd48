"""Messages workers post back to the app. Workers never touch widgets (Harlequin's rule)."""
from __future__ import annotations

from textual.message import Message


class SignInResult(Message):
    """A PIN checked: nobody (staff_id None), someone who does not work at this branch, or a
    cashier, with the counter's open shift and the branch's running promotions."""

    def __init__(self, staff_id: int | None, staff=None, works_here: bool = False, shift=None,
                 rules: list | None = None, rules_at: float = 0.0) -> None:
        super().__init__()
        self.staff_id, self.staff, self.works_here = staff_id, staff, works_here
        self.shift, self.rules, self.rules_at = shift, rules or [], rules_at


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
