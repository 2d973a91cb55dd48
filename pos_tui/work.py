"""The one way a till screen runs core work: `run(screen, fn, done)`.

`fn` (pos_core calls) runs in a Textual thread worker, so a slow or locked database never freezes
the screen. Its result comes back to `done(result)` on the UI thread. Whatever goes wrong - the
product's own refusal (PosError), "database is locked", a bug - becomes one line on the screen's
message line (and a bell); anything that is not a PosError is logged with its traceback to the till's
log. The till keeps running and the screen keeps what was typed: nothing is lost.

The worker's thread closes its database connection when done (pos_core opens one per thread).
"""
from __future__ import annotations

import functools
import logging
from typing import Any, Callable

from pos_core import db
from pos_core.errors import PosError

log = logging.getLogger("pos_tui.work")

MAX_LINE = 150   # an error line fits two rows of an 80-column console


def one_line(exc: BaseException) -> str:
    """A short, single-line description of an unexpected error, for the message line."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    if "database is locked" in text or "database is busy" in text:
        return "the database is busy (database is locked)"
    if len(text) > MAX_LINE:
        text = text[: MAX_LINE - 1] + "~"
    return f"{type(exc).__name__}: {text}" if type(exc).__name__ not in text else text


UNEXPECTED = "{what} NOT done ({error}); try again"


def failure_text(exc: BaseException, what: str = "", unexpected: str = UNEXPECTED) -> str:
    """What the cashier reads when `fn` raised: the product's own message as it is, anything else
    as `unexpected` filled in, by default "<what> NOT done (<one line>); try again"."""
    if isinstance(exc, PosError):
        return str(exc)
    return unexpected.format(what=what or "That", error=one_line(exc))


def say(screen, text: str, error: bool = False) -> None:
    """Show a line on this screen's message line if it has one, otherwise wherever the app shows it."""
    show = getattr(screen, "show_message", None)
    try:
        if show is not None:
            show(text, error)
        else:
            screen.app.say(text, error)
    except Exception:  # noqa: BLE001 - the screen went away meanwhile: the log still has it
        log.warning("message not shown (%s): %s", type(screen).__name__, text)


def run(screen, fn: Callable[[], Any], done: Callable[[Any], None] | None = None, *,
        failed: Callable[[str], None] | None = None, what: str = "", busy: str | None = "Working...",
        group: str = "core", exclusive: bool = False, unexpected: str = UNEXPECTED):
    """Run fn() in a thread worker of `screen`; then done(result) on the UI thread.

    On an error `failed(text)` is called instead when given (text as from failure_text, with
    `unexpected` as the wording for errors that are not the product's own), else the text goes to
    the screen's message line. `screen` may also be the App. `busy` is shown while it runs (None: nothing). An error
    inside `done` itself is caught the same way, so no outcome can stop the till. Returns the Worker.
    """
    if busy:
        say(screen, busy)

    def call() -> None:
        try:
            result = fn()
        except Exception as exc:  # noqa: BLE001 - every error becomes a line, never a crash
            if not isinstance(exc, PosError):
                log.exception("%s failed on %s", what or getattr(fn, "__name__", "core work"),
                              type(screen).__name__)
            screen.call_later(_fail, screen, failed, failure_text(exc, what, unexpected))
        else:
            screen.call_later(_deliver, screen, done, failed, result, what, unexpected)
        finally:
            db.close()

    return screen.run_worker(call, thread=True, group=group, exclusive=exclusive, exit_on_error=False,
                             name=what or "core work")


def _fail(screen, failed, text: str) -> None:
    try:
        if failed is not None:
            failed(text)
            return
    except Exception:  # noqa: BLE001
        log.exception("showing a failure on %s", type(screen).__name__)
    say(screen, text, True)


def _deliver(screen, done, failed, result, what: str, unexpected: str) -> None:
    if done is None:
        return
    try:
        done(result)
    except Exception as exc:  # noqa: BLE001 - e.g. a read after the write failed: say so, keep going
        if not isinstance(exc, PosError):
            log.exception("after %s on %s", what or "core work", type(screen).__name__)
        _fail(screen, failed, failure_text(exc, what, unexpected))


def guarded(what: str):
    """For the reads a screen makes on the UI thread (a reload, a scanned code): the method's
    PosError is shown as it is, any other error logged and shown as one line, and the till goes
    on. Put it under @on(...) so the handler registered is the guarded one."""
    def wrap(method):
        @functools.wraps(method)
        def guarded_method(self, *args, **kwargs):
            try:
                return method(self, *args, **kwargs)
            except PosError as exc:
                say(self, str(exc), True)
            except Exception as exc:  # noqa: BLE001 - e.g. "database is locked": say so, keep the till
                log.exception("%s.%s failed", type(self).__name__, method.__name__)
                say(self, failure_text(exc, what), True)
        return guarded_method
    return wrap
