"""Count the database queries of the pages in-process (CaptureQueriesContext), JSON on stdout.

Run as `python -m bench.queries PAGES_JSON` with the server's environment; PAGES_JSON is the
`pages` object bench.seed printed. Each page is requested once to warm caches, then counted.
"""

import json
import os
import sys

import django


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
    django.setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from accounts.models import User

    pages = json.loads(sys.argv[1])
    out = {}
    for size, fixture in pages.items():
        client = Client()
        client.force_login(User.objects.get(username=fixture["username"]))
        for name, url in page_urls(fixture).items():
            client.get(url)
            with CaptureQueriesContext(connection) as ctx:
                response = client.get(url)
            out[f"{name}:{size}"] = {"queries": len(ctx), "status": response.status_code}
    json.dump(out, sys.stdout)


def page_urls(fixture: dict) -> dict[str, str]:
    return {
        "list": "/",
        "sidebar": "/sidebar/",
        "conversation": f"/c/{fixture['conversation']}/",
    }


if __name__ == "__main__":
    main()
