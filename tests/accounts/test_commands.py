"""Management commands an operator runs: createsuperuser from the environment, check --deploy."""

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import SystemCheckError

User = get_user_model()


@pytest.mark.django_db
@pytest.mark.real_password_hasher
def test_createsuperuser_noinput_reads_username_and_password_from_env(monkeypatch, client):
    monkeypatch.setenv("DJANGO_SUPERUSER_USERNAME", "root")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a long admin passphrase")

    call_command("createsuperuser", interactive=False, verbosity=0)

    root = User.objects.get(username="root")
    assert root.is_staff and root.is_superuser
    assert client.login(username="root", password="a long admin passphrase")
    assert client.get("/admin/").status_code == 200


@pytest.fixture
def production_settings(settings):
    settings.DEBUG = False
    settings.ALLOWED_HOSTS = ["chat.example.com"]
    settings.CSRF_TRUSTED_ORIGINS = ["https://chat.example.com"]
    settings.SECURE_SSL_REDIRECT = True
    settings.SESSION_COOKIE_SECURE = True
    settings.CSRF_COOKIE_SECURE = True
    settings.SECURE_HSTS_SECONDS = 31_536_000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_HSTS_PRELOAD = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    return settings


def test_check_deploy_reports_no_errors_under_production_settings(production_settings):
    try:
        call_command("check", deploy=True, fail_level="ERROR")
    except SystemCheckError as error:
        pytest.fail(f"manage.py check --deploy found errors:\n{error}")


def test_check_deploy_has_no_warnings_under_production_settings(production_settings):
    try:
        call_command("check", deploy=True, fail_level="WARNING")
    except SystemCheckError as error:
        pytest.fail(f"manage.py check --deploy warned:\n{error}")
