"""Errors a person can act on. Each message is written for the cashier or technician who sees it."""


class PosError(Exception):
    """Base for refusals that leave the database unchanged."""


class NotFound(PosError):
    pass


class InvalidInput(PosError):
    pass


class PermissionDenied(PosError):
    pass


class StateError(PosError):
    """The document or shift is not in a state that allows this."""
