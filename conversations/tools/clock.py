"""Tool: the current date and time in the member's time zone."""

from datetime import datetime
from zoneinfo import ZoneInfo

from django.utils.translation import gettext_lazy as _

from .registry import ToolContext


class Clock:
    name = "current_time"
    label = _("Current date and time")
    description = (
        "The current date and time in the user's time zone (ISO 8601), with the zone's name "
        "and whether it came from the user's browser or is the server's default."
    )
    input_schema = {"type": "object", "properties": {}, "additionalProperties": False}

    def call(self, arguments: dict, context: ToolContext) -> dict:
        now = datetime.now(ZoneInfo(context.time_zone))
        return {
            "now": now.isoformat(timespec="seconds"),
            "weekday": now.strftime("%A"),
            "time_zone": context.time_zone,
            "time_zone_source": context.time_zone_source,
        }


TOOL = Clock()
