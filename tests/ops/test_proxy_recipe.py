"""docs/deployment.md's nginx recipe keeps forms working behind a non-default HTTPS port.

The `Host` the recipe passes to Daphne is read from the page and evaluated as nginx would for
a browser at https://chat.example.com:8443, with `CSRF_TRUSTED_ORIGINS` as the page's env file
writes it (the origin without the port). `$host` dropped the port, and every form failed with
a CSRF 403.
"""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

ROOT = Path(settings.BASE_DIR)
DOC = ROOT / "docs" / "deployment.md"
PUBLIC_HOST, PUBLIC_PORT = "chat.example.com", "8443"
ORIGIN = f"https://{PUBLIC_HOST}:{PUBLIC_PORT}"
# What nginx's variables hold for a request to ORIGIN (HTTP/1.1, or HTTP/2's :authority).
NGINX_VARIABLES = {
    "$http_host": f"{PUBLIC_HOST}:{PUBLIC_PORT}",
    "$host": PUBLIC_HOST,
    "$server_port": PUBLIC_PORT,
}

pytestmark = pytest.mark.django_db


def recipe_hosts() -> list[str]:
    """The `Host` each location of the page's nginx recipe sends, for a request to ORIGIN."""
    recipe = re.search(r"```nginx\n(.*?)```", DOC.read_text(), re.DOTALL).group(1)
    values = re.findall(r"proxy_set_header\s+Host\s+(\S+);", recipe)
    assert values, "the nginx recipe sets no Host"
    names = re.compile("|".join(re.escape(n) for n in sorted(NGINX_VARIABLES, reverse=True)))
    return [names.sub(lambda m: NGINX_VARIABLES[m.group(0)], value) for value in values]


def documented_trusted_origins() -> list[str]:
    """CSRF_TRUSTED_ORIGINS as the page's env file sets it."""
    return re.search(r"^CSRF_TRUSTED_ORIGINS=(\S+)$", DOC.read_text(), re.M).group(1).split(",")


def test_nginx_recipe_passes_the_port_so_forms_work_behind_a_non_default_port(settings):
    settings.ALLOWED_HOSTS = [PUBLIC_HOST]
    settings.CSRF_TRUSTED_ORIGINS = documented_trusted_origins()
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    hosts = recipe_hosts()  # one per location: the socket's and the pages'

    for host in hosts:
        browser = Client(enforce_csrf_checks=True, HTTP_X_FORWARDED_PROTO="https")
        browser.get("/accounts/login/", HTTP_HOST=host)
        token = browser.cookies["csrftoken"].value
        response = browser.post(
            "/accounts/login/",
            {"username": "nobody", "password": "wrong", "csrfmiddlewaretoken": token},
            HTTP_HOST=host,
            HTTP_ORIGIN=ORIGIN,
        )

        assert response.status_code == 200, (host, response.status_code)  # the form, not a 403
