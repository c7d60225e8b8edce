"""The admin usage report: charges by user, model, day, source or API key, with charts of the
range per day (accounts/charts.py) and CSV."""

from datetime import date, timedelta
from decimal import Decimal

from django import forms
from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET

from .charts import usage_charts
from .exports import csv_download
from .money import decimal_text
from .reports import (
    CSV_COLUMNS,
    EARLIEST_DAY,
    LATEST_DAY,
    csv_rows,
    is_report_day,
    totals,
    usage_rows,
)

DEFAULT_DAYS = 30


# A browser date picker submits and expects ISO dates, whatever the active language.
DateInput = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def validate_report_day(day: date) -> None:
    if not is_report_day(day):
        raise forms.ValidationError(
            _("Enter a date from %(earliest)s to %(latest)s."),
            params={"earliest": EARLIEST_DAY.isoformat(), "latest": LATEST_DAY.isoformat()},
        )


class UsageReportForm(forms.Form):
    since = forms.DateField(
        label=gettext_lazy("From"), widget=DateInput, validators=[validate_report_day]
    )
    until = forms.DateField(
        label=gettext_lazy("To"), widget=DateInput, validators=[validate_report_day]
    )
    group_by = forms.ChoiceField(
        label=gettext_lazy("Group by"),
        choices=[
            ("user", gettext_lazy("User")),
            ("model", gettext_lazy("Model")),
            ("day", gettext_lazy("Day")),
            ("source", gettext_lazy("Source")),
            ("api_key", gettext_lazy("API key")),
        ],
    )

    def clean(self) -> dict:
        cleaned = super().clean()
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and since > until:
            raise forms.ValidationError(_("The start date must not be after the end date."))
        return cleaned


def default_filters(today: date) -> dict:
    """The last 30 days, today included."""
    return {
        "since": today - timedelta(days=DEFAULT_DAYS - 1),
        "until": today,
        "group_by": "user",
    }


# The report's CSV starts with the grouping when it is not a column of usage_report's header.
LEADING_COLUMNS = {"day": ["day"], "source": ["source"], "api_key": ["api_key", "api_key_name"]}


def csv_response(rows: list[dict], filters: dict) -> HttpResponse:
    columns = [*LEADING_COLUMNS.get(filters["group_by"], []), *CSV_COLUMNS]
    name = f"usage-{filters['since']:%Y%m%d}-{filters['until']:%Y%m%d}-{filters['group_by']}.csv"
    return csv_download(name, columns, csv_rows(rows, columns))


@staff_member_required
@permission_required("accounts.view_usage_report", raise_exception=True)
@require_GET
def usage_report(request: HttpRequest) -> HttpResponse:
    """Staff with `view_usage_report`: charges in a date range by one grouping, as a table
    and CSV."""
    defaults = default_filters(timezone.localdate())
    given = any(name in request.GET for name in UsageReportForm.base_fields)
    form = UsageReportForm({**defaults, **request.GET.dict()} if given else defaults)
    rows: list[dict] = []
    saved, charts = None, []
    filters = form.cleaned_data if form.is_valid() else None
    if filters:
        since, until = filters["since"], filters["until"]
        rows = usage_rows(since=since, until=until, by=(filters["group_by"],))
        if request.GET.get("format") == "csv":
            return csv_response(rows, filters)
        by_day_and_model = usage_rows(
            since=since, until=until, by=("day", "model"), with_savings=True
        )
        saved = sum((row["caching_saved"] for row in by_day_and_model), Decimal(0))
        charts = usage_charts(by_day_and_model, since=since, until=until)
    # <meter> needs no style attribute, so the chart works under style-src 'self'. Its
    # attributes take plain numbers, never localized ones.
    max_cost = max((row["cost_usd"] for row in rows), default=Decimal(0)) or Decimal(1)
    context = {
        **admin.site.each_context(request),
        "title": _("Usage report"),
        "form": form,
        "filters": filters,
        "key": filters["group_by"] if filters else None,
        "rows": [{**row, "bar": decimal_text(row["cost_usd"])} for row in rows],
        "totals": totals(rows),
        "caching_saved": saved,
        "charts": charts,
        "max_cost": decimal_text(max_cost),
        "csv_query": _csv_query(request),
    }
    return render(request, "admin/usage_report.html", context)


def _csv_query(request: HttpRequest) -> str:
    query = request.GET.copy()
    query["format"] = "csv"
    return query.urlencode()
