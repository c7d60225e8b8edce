"""User-facing, translated text for the error codes a reply or a frame can carry."""

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

MESSAGES = {
    "auth": gettext_lazy(
        "The server's API key was refused by the model provider. Tell an administrator."
    ),
    "permission": gettext_lazy(
        "The server's API key may not use this model. Tell an administrator."
    ),
    "invalid_request": gettext_lazy("The model provider refused the request."),
    "not_found": gettext_lazy("The model provider does not know this model."),
    "request_too_large": gettext_lazy("The conversation is too large for the model provider."),
    "rate_limited": gettext_lazy(
        "Too many requests to the model provider right now. Try again in a moment."
    ),
    "overloaded": gettext_lazy("The model provider is overloaded. Try again in a moment."),
    "server": gettext_lazy("The model provider had an internal error. Try again."),
    "timeout": gettext_lazy("The model provider stopped answering (timed out)."),
    "connection": gettext_lazy("The connection to the model provider was lost."),
    "incomplete": gettext_lazy("The reply ended before it was complete."),
    "interrupted": gettext_lazy("The server restarted while this reply was being written."),
    "internal": gettext_lazy("The server failed while writing this reply."),
}


def error_message(error: dict) -> str:
    """The translated sentence for a stored error, falling back to its detail."""
    code = error.get("code", "")
    if code == "not_found" and error.get("model"):
        return _(
            "The model provider does not know the model %(model)s: it may be retired. "
            "Choose another model."
        ) % {"model": error["model"]}
    if code in MESSAGES:
        return str(MESSAGES[code])
    return error.get("detail") or _("Something went wrong.")
