"""The shared page's line under the title reads as one sentence in both languages."""

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.test import Client

from conversations import shares
from conversations.models import Share

from .test_views import add_message, make_conversation

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("hour", [10, 15])  # "a.m." and "p.m.": both end in a full stop
def test_the_snapshot_time_is_not_followed_by_a_second_full_stop(make_user, settings, hour):
    settings.TIME_ZONE = "UTC"
    conversation = make_conversation(make_user("alice"), title="Offsite")
    add_message(conversation, "Where?")
    share = shares.create_share(conversation.user, conversation.pk)
    taken = datetime(2026, 12, 3, hour, 30, tzinfo=ZoneInfo("UTC"))
    Share.objects.filter(pk=share.pk).update(updated_at=taken)

    html = Client().get(share.get_absolute_url()).content.decode()

    line = re.search(r'<p class="muted shared-when">(.*?)</p>', html, re.S)
    assert line, "the snapshot line is on the page"
    text = " ".join(line.group(1).split())
    assert ".." not in text
    assert re.search(r"taken Dec\. 3, 2026, \d+:30 [ap]\.m\.$", text)


def test_the_japanese_snapshot_line_has_no_doubled_full_stop(make_user):
    conversation = make_conversation(make_user("alice"), title="Offsite")
    add_message(conversation, "Where?")
    share = shares.create_share(conversation.user, conversation.pk)

    html = Client(headers={"accept-language": "ja"}).get(share.get_absolute_url()).content.decode()

    line = re.search(r'<p class="muted shared-when">(.*?)</p>', html, re.S)
    assert line and "。。" not in line.group(1) and ".." not in line.group(1)
