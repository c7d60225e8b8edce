"""The search page and the sidebar's search results (HTMX partial): one view, two templates."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from .search import MAX_QUERY_CHARS, SearchError, search_page


def _page_number(raw: str | None) -> int:
    return int(raw) if raw and raw.isdigit() and 0 < int(raw) < 10_000 else 1


@login_required
@require_GET
def search(request: HttpRequest) -> HttpResponse:
    """GET /search/?q=…&page=N: the member's own conversations that hold the words.

    An HTMX request (the sidebar's box, its "More results") gets the results partial; a plain
    one (no JavaScript, or a link) the whole page. A bad query is a 200 with its message, so
    the box shows it where the results would be.
    """
    query = request.GET.get("q", "")
    context = {"query": query, "max_chars": MAX_QUERY_CHARS, "page": None, "error": ""}
    try:
        context["page"] = search_page(request.user.pk, query, _page_number(request.GET.get("page")))
    except SearchError as exc:
        context["error"] = str(exc)
    if request.headers.get("HX-Request"):
        return render(request, "conversations/partials/search_results.html", context)
    return render(request, "conversations/search.html", context)
