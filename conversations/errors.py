"""ChatError: an action refused, with the error frame's code and a message for the user."""


class ChatError(Exception):
    """A refused action, with a frame error code, a message for the user, and extra fields."""

    def __init__(self, code: str, detail: str, **extra: object) -> None:
        super().__init__(detail)
        self.code, self.detail, self.extra = code, detail, extra
