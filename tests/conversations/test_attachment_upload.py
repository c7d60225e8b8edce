"""POST /attachments/ and the owner's file view: the contract's JSON, headers and scope."""

import json

import pytest
from django.core.files.storage import default_storage
from django.test import Client

from conversations.models import Attachment

from .attachment_files import HTML, PYTHON, SVG, jpeg, pdf, png, png_bomb

pytestmark = pytest.mark.django_db


def upload(client: Client, name: str, data: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    # The browser's content type is a lie on purpose: only the bytes count.
    return client.post("/attachments/", {"file": SimpleUploadedFile(name, data, "image/png")})


@pytest.fixture
def alice_client(make_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(make_user("alice"))
    client.get("/")  # sets the CSRF cookie
    return client


def csrf_post(client: Client, name: str, data: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    token = client.cookies["csrftoken"].value
    return client.post(
        "/attachments/",
        {"file": SimpleUploadedFile(name, data, "application/octet-stream")},
        HTTP_X_CSRFTOKEN=token,
    )


def test_upload_answers_the_contract_json_with_the_type_found_from_the_bytes(alice_client):
    response = csrf_post(alice_client, "shot.png", png(40, 30))
    assert response.status_code == 201
    body = response.json()
    attachment = Attachment.objects.get()
    assert body == {
        "id": attachment.pk,
        "name": "shot.png",
        "media_type": "image/png",
        "size": len(png(40, 30)),
        "kind": "image",
        "width": 40,
        "height": 30,
        "url": f"/attachments/{attachment.pk}/",
    }
    assert attachment.message is None and attachment.conversation is None
    assert len(attachment.sha256) == 64


def test_upload_without_the_csrf_token_is_refused(alice_client):
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = alice_client.post("/attachments/", {"file": SimpleUploadedFile("a.png", png())})
    assert response.status_code == 403
    assert not Attachment.objects.exists()


def test_anonymous_upload_is_refused_with_json(client):
    response = upload(client, "a.png", png())
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "not_signed_in"


def test_identical_uploads_are_two_rows_on_one_stored_file(alice_client):
    first = csrf_post(alice_client, "a.png", png()).json()
    second = csrf_post(alice_client, "b.png", png()).json()
    rows = Attachment.objects.filter(pk__in=[first["id"], second["id"]])
    assert {row.file.name for row in rows} == {rows[0].file.name}
    assert len(default_storage.listdir(rows[0].file.name.rsplit("/", 1)[0])[1]) == 1


@pytest.mark.parametrize(
    ("name", "data", "kind", "media_type"),
    [
        ("photo.JPG", jpeg(), "image", "image/jpeg"),
        ("paper.pdf", pdf(3), "pdf", "application/pdf"),
        ("greet.py", PYTHON, "text", "text/plain"),
        ("README", b"plain words\n", "text", "text/plain"),
    ],
)
def test_each_accepted_kind_is_found_from_its_bytes(alice_client, name, data, kind, media_type):
    body = csrf_post(alice_client, name, data).json()
    assert (body["kind"], body["media_type"]) == (kind, media_type)


@pytest.mark.parametrize(
    ("name", "data", "code"),
    [
        ("cat.png", HTML, "type_mismatch"),
        ("page.html", HTML, "unsupported_type"),
        ("logo.svg", SVG, "unsupported_type"),
        ("logo.txt", SVG, "unsupported_type"),
        ("bomb.png", png_bomb(), "too_many_pixels"),
        ("photo.pdf", png(), "type_mismatch"),
        ("app.exe", b"MZ\x90\x00\x03\x00\x00\x00\xff\xff", "unsupported_type"),
        ("archive.txt", b"PK\x03\x04\x14\x00\x00\x00\x08\x00\x00\x00\xff\xfe", "unsupported_type"),
        ("empty.txt", b"", "empty"),
    ],
)
def test_refused_files_leave_no_row_and_no_file(alice_client, name, data, code):
    response = csrf_post(alice_client, name, data)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == code and error["message"]
    assert not Attachment.objects.exists()
    assert not default_storage.exists("attachments")


def test_an_oversize_file_is_refused_with_413(alice_client, settings):
    settings.ATTACHMENT_MAX_BYTES = 1000
    response = csrf_post(alice_client, "big.pdf", pdf(1) + b"%" * 2000)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"
    assert not Attachment.objects.exists()


def test_an_image_url_is_registered_without_being_fetched(alice_client):
    token = alice_client.cookies["csrftoken"].value
    response = alice_client.post(
        "/attachments/",
        json.dumps({"url": "https://images.example/cat.jpg"}),
        content_type="application/json",
        HTTP_X_CSRFTOKEN=token,
    )
    assert response.status_code == 201
    body = response.json()
    assert body["kind"] == "image_url" and body["name"] == "cat.jpg"
    redirect = alice_client.get(body["url"])
    assert redirect.status_code == 302
    assert redirect["Location"] == "https://images.example/cat.jpg"


@pytest.mark.parametrize("url", ["http://images.example/a.png", "javascript:alert(1)", "", 7])
def test_an_image_url_must_be_https(alice_client, url):
    token = alice_client.cookies["csrftoken"].value
    response = alice_client.post(
        "/attachments/", json.dumps({"url": url}), "application/json", HTTP_X_CSRFTOKEN=token
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_url"
    assert not Attachment.objects.exists()


def test_the_owner_gets_an_image_inline_and_as_a_download(alice_client):
    body = csrf_post(alice_client, "shot.png", png()).json()
    inline = alice_client.get(body["url"])
    assert inline.status_code == 200
    assert inline["Content-Type"] == "image/png"
    assert inline["Content-Disposition"].startswith("inline")
    assert inline["X-Content-Type-Options"] == "nosniff"
    assert b"".join(inline.streaming_content) == png()
    download = alice_client.get(body["url"] + "?download=1")
    assert download["Content-Disposition"].startswith("attachment")


def test_a_text_file_is_always_a_download(alice_client):
    body = csrf_post(alice_client, "greet.py", PYTHON).json()
    response = alice_client.get(body["url"])
    assert response["Content-Disposition"].startswith("attachment")
    assert response["Content-Type"] == "text/plain; charset=utf-8"


def test_another_user_and_an_anonymous_visitor_get_404(alice_client, make_user, client):
    body = csrf_post(alice_client, "shot.png", png()).json()
    assert client.get(body["url"]).status_code == 404
    bob = Client()
    bob.force_login(make_user("bob"))
    assert bob.get(body["url"]).status_code == 404
    assert bob.get(body["url"] + "?download=1").status_code == 404


def test_uploads_never_sent_are_capped_per_user(alice_client, settings):
    settings.ATTACHMENT_MAX_UNSENT = 2
    assert csrf_post(alice_client, "a.py", b"a = 1\n").status_code == 201
    assert csrf_post(alice_client, "b.py", b"b = 2\n").status_code == 201
    response = csrf_post(alice_client, "c.py", b"c = 3\n")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "too_many_unsent"
    assert Attachment.objects.count() == 2


def test_the_owner_removes_an_upload_not_sent_yet(
    alice_client, make_user, django_capture_on_commit_callbacks
):
    body = csrf_post(alice_client, "shot.png", png()).json()
    path = Attachment.objects.get().file.name
    bob = Client()
    bob.force_login(make_user("bob"))
    assert bob.delete(body["url"]).status_code == 404
    token = alice_client.cookies["csrftoken"].value
    assert alice_client.delete(body["url"]).status_code == 403  # no CSRF token
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.delete(body["url"], HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 204
    assert not Attachment.objects.exists() and not default_storage.exists(path)


def test_a_sent_attachment_cannot_be_removed_alone(alice_client):
    from conversations.attachments import link_to_message
    from conversations.models import Conversation, Message

    body = csrf_post(alice_client, "shot.png", png()).json()
    attachment = Attachment.objects.get()
    conversation = Conversation.objects.create(user=attachment.user, model="m")
    link_to_message([attachment], Message.objects.create(conversation=conversation, role="user"))
    token = alice_client.cookies["csrftoken"].value
    assert alice_client.delete(body["url"], HTTP_X_CSRFTOKEN=token).status_code == 404
    assert Attachment.objects.exists()


def test_a_name_in_any_script_is_kept_and_sent_encoded(alice_client):
    body = csrf_post(alice_client, "スクリーンショット.png", png()).json()
    assert body["name"] == "スクリーンショット.png"
    response = alice_client.get(body["url"] + "?download=1")
    assert "filename*=utf-8''" in response["Content-Disposition"]
