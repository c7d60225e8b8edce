"""The settings panel's endpoints: saving and checking settings, and presets (own and team)."""

import pytest

from conversations.models import Conversation, Preset

pytestmark = pytest.mark.django_db

SONNET = "claude-sonnet-4-5-20250929"


@pytest.fixture
def as_alice(client, alice, chat_model):
    client.force_login(alice)
    return client


@pytest.fixture
def as_staff(client, make_user, chat_model):
    staff = make_user("admin")
    staff.is_staff = True
    staff.save()
    client.force_login(staff)
    return client


def post(client, path: str, data: dict):
    return client.post(path, data, content_type="application/json")


def test_saving_settings_stores_them_with_the_conversation(as_alice, alice):
    conversation = Conversation.objects.create(user=alice, model=SONNET)
    answer = post(
        as_alice,
        f"/c/{conversation.pk}/settings/",
        {"settings": {"top_k": 40, "stop_sequences": ["", "STOP"]}, "system_prompt": "Be kind."},
    )
    assert answer.status_code == 200
    conversation.refresh_from_db()
    assert conversation.settings == {"top_k": 40, "stop_sequences": ["STOP"]}
    assert conversation.system_prompt == "Be kind."


def test_refused_settings_name_each_field_and_change_nothing(as_alice, alice):
    conversation = Conversation.objects.create(user=alice, model=SONNET, settings={"top_k": 3})
    answer = post(
        as_alice,
        f"/c/{conversation.pk}/settings/",
        {"settings": {"top_k": 2.5, "temperature": 3, "stop_sequences": list("abcde")}},
    )
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "invalid_settings"
    assert set(error["fields"]) == {"top_k"}, "shape problems first, then the API's rules"
    answer = post(
        as_alice,
        f"/c/{conversation.pk}/settings/",
        {"settings": {"temperature": 3, "stop_sequences": list("abcde")}},
    )
    fields = answer.json()["error"]["fields"]
    assert set(fields) == {"temperature", "stop_sequences"}
    assert "At most 4 stop sequences" in fields["stop_sequences"]
    conversation.refresh_from_db()
    assert conversation.settings == {"top_k": 3}


def test_settings_are_checked_against_the_model_the_page_has_chosen(as_alice, alice):
    conversation = Conversation.objects.create(user=alice, model=SONNET)
    answer = post(
        as_alice,
        f"/c/{conversation.pk}/settings/",
        {"settings": {"max_tokens": 70000}, "model": SONNET},
    )
    assert answer.json()["error"]["fields"]["max_tokens"] == (
        "Max tokens can be at most 64000 for this model."
    )


def test_the_errors_are_in_the_readers_language(as_alice, alice):
    conversation = Conversation.objects.create(user=alice, model=SONNET)
    answer = as_alice.post(
        f"/c/{conversation.pk}/settings/",
        {"settings": {"stop_sequences": list("abcde")}},
        content_type="application/json",
        headers={"accept-language": "ja"},
    )
    assert "stop sequences" not in answer.json()["error"]["message"]


def test_someone_elses_conversation_settings_are_404(as_alice, make_user):
    bob = make_user("bob")
    theirs = Conversation.objects.create(user=bob, model=SONNET)
    answer = post(as_alice, f"/c/{theirs.pk}/settings/", {"settings": {"top_k": 3}})
    assert answer.status_code == 404
    theirs.refresh_from_db()
    assert theirs.settings == {}


def test_a_body_that_is_not_an_object_is_refused(as_alice):
    answer = as_alice.post("/settings/check/", "[1]", content_type="application/json")
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "invalid_request"


def test_checking_settings_for_a_new_chat_cleans_them(as_alice):
    answer = post(as_alice, "/settings/check/", {"settings": {"temperature": 0}, "model": SONNET})
    assert answer.json() == {"settings": {"temperature": 0}, "system_prompt": ""}


def test_a_member_saves_a_preset_and_saving_its_name_again_replaces_it(as_alice, alice):
    first = post(as_alice, "/presets/", {"name": " Terse ", "settings": {"max_tokens": 100}})
    assert first.status_code == 200
    preset = first.json()["preset"]
    assert (preset["name"], preset["team"], preset["model"]) == ("Terse", False, SONNET)
    again = post(as_alice, "/presets/", {"name": "Terse", "system_prompt": "Short."})
    assert again.json()["preset"]["id"] == preset["id"]
    stored = Preset.objects.get()
    assert (stored.owner, stored.system_prompt, stored.settings) == (alice, "Short.", {})


def test_a_preset_with_refused_settings_or_no_name_is_not_saved(as_alice):
    answer = post(as_alice, "/presets/", {"name": "Hot", "settings": {"temperature": 2}})
    assert answer.json()["error"]["field"] == "temperature"
    answer = post(as_alice, "/presets/", {"name": "  "})
    assert answer.json()["error"] == {
        "code": "invalid_preset",
        "message": "Give the preset a name.",
        "field": "preset_name",
        "fields": {"preset_name": "Give the preset a name."},
    }
    assert not Preset.objects.exists()


def test_a_member_cannot_publish_or_delete_a_team_preset(as_alice, chat_model):
    answer = post(as_alice, "/presets/", {"name": "For all", "team": True})
    assert answer.status_code == 403
    team = Preset.objects.create(name="Team", model=SONNET)
    assert as_alice.post(f"/presets/{team.pk}/delete/").status_code == 403
    assert Preset.objects.filter(pk=team.pk).exists()


def test_staff_publish_a_team_preset_that_every_member_is_offered(as_staff, make_user):
    answer = post(as_staff, "/presets/", {"name": "Support", "team": True, "system_prompt": "Hi"})
    assert answer.json()["preset"]["team"] is True
    assert Preset.objects.get().owner is None

    member = make_user("carol")
    as_staff.force_login(member)
    page = as_staff.get("/")
    assert b"Support" in page.content
    assert page.context["settings_state"]["presets"][0]["team"] is True


def test_a_member_deletes_their_own_preset_but_not_anothers(as_alice, alice, make_user):
    mine = Preset.objects.create(owner=alice, name="Mine", model=SONNET)
    theirs = Preset.objects.create(owner=make_user("bob"), name="Theirs", model=SONNET)
    assert as_alice.post(f"/presets/{theirs.pk}/delete/").status_code == 404
    assert as_alice.post(f"/presets/{mine.pk}/delete/").json() == {"deleted": mine.pk}
    assert list(Preset.objects.values_list("name", flat=True)) == ["Theirs"]


def test_the_chat_page_offers_own_and_team_presets_not_others(as_alice, alice, make_user):
    Preset.objects.create(owner=alice, name="Mine", model=SONNET)
    Preset.objects.create(name="Team", model=SONNET)
    Preset.objects.create(owner=make_user("bob"), name="Bob's", model=SONNET)
    state = as_alice.get("/").context["settings_state"]
    assert [p["name"] for p in state["presets"]] == ["Mine", "Team"]
    assert state["models"][SONNET]["max_output_tokens"] == 64000


def test_the_django_admin_refuses_a_preset_the_api_would_refuse(client, make_user, chat_model):
    admin_user = make_user("root")
    admin_user.is_staff = admin_user.is_superuser = True
    admin_user.save()
    client.force_login(admin_user)
    form = {"name": "Hot", "model": SONNET, "system_prompt": "", "settings": '{"temperature": 3}'}
    answer = client.post("/admin/conversations/preset/add/", form)
    assert answer.status_code == 200 and not Preset.objects.exists()
    assert "Temperature must be a number from 0 to 1." in answer.content.decode()
    form["settings"] = '{"temperature": 0.3}'
    answer = client.post("/admin/conversations/preset/add/", form)
    assert answer.status_code == 302
    assert Preset.objects.get().owner is None, "no owner: a team preset"


def test_a_shared_snapshot_with_the_system_prompt_shows_the_team_presets_part(alice):
    from conversations import shares

    team = Preset.objects.create(name="Team", model=SONNET, system_prompt="Team rules.")
    chat = Conversation.objects.create(
        user=alice, model=SONNET, preset=team, system_prompt="My own."
    )
    share = shares.create_share(alice, chat.pk, include_system_prompt=True)
    assert share.system_prompt == "Team rules.\n\nMy own."
