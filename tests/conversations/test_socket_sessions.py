"""Open sockets follow the account: a sign-out, a deactivation or a new password closes them
(4401), and a frame that arrives first is refused without being acted on."""

import pytest
from asgiref.sync import sync_to_async
from django.contrib.sessions.models import Session
from django.test import Client

from accounts.models import User
from conversations.models import Conversation, Message

from .wsclient import ChatSocket

pytestmark = [pytest.mark.django_db(transaction=True)]

CLOSE_UNAUTHENTICATED = 4401
USERS_URL = "/admin/accounts/user/"


async def signed_in(user) -> tuple[Client, str]:
    """A browser signed in as `user`: its test client and its session key."""

    def login() -> tuple[Client, str]:
        client = Client()
        client.force_login(user)
        return client, client.cookies["sessionid"].value

    return await sync_to_async(login)()


async def still_served(socket: ChatSocket, client_id: str = "alive") -> None:
    """The socket is open and signed in: a send is answered with a finished reply."""
    await socket.send_text("still here? !tokens=1", client_id=client_id)
    frames = await socket.receive_until("message.completed")
    assert frames[-1]["status"] == "complete", frames


async def test_signing_out_closes_that_sessions_sockets_only(upstream, alice, runner):
    browser, session = await signed_in(alice)
    _, other_session = await signed_in(alice)
    first, second = [await ChatSocket.open(session=session) for _ in range(2)]
    elsewhere = await ChatSocket.open(session=other_session)

    response = await sync_to_async(browser.post)("/accounts/logout/")
    assert response.status_code == 302

    assert await first.receive_close() == CLOSE_UNAUTHENTICATED
    assert await second.receive_close() == CLOSE_UNAUTHENTICATED
    await still_served(elsewhere)  # the same user's other browser is still signed in
    await elsewhere.close()


async def test_signed_out_socket_stops_receiving_deltas(upstream, alice, runner):
    browser, session = await signed_in(alice)
    socket = await ChatSocket.open(session=session)
    await socket.send_text("long !tokens=400 !delay=10")
    frames = await socket.receive_deltas(2)
    reply = next(f["message"] for f in frames if f["type"] == "message.delta")

    await sync_to_async(browser.post)("/accounts/logout/")

    assert await socket.receive_close() == CLOSE_UNAUTHENTICATED
    conversation = frames[0]["conversation"]["id"]
    assert conversation not in runner.subscribers, "no delta goes to a signed-out socket"
    await runner.wait(reply)  # the reply itself is the user's, and finishes (and is charged)
    assert (await Message.objects.aget(pk=reply)).status == "complete"


def _deactivate_by_save(admin_client: Client, user: User) -> None:
    user.is_active = False
    user.save()


def _deactivate_by_bulk_action(admin_client: Client, user: User) -> None:
    response = admin_client.post(USERS_URL, {"action": "deactivate", "_selected_action": [user.pk]})
    assert response.status_code == 302


def _deactivate_by_change_form(admin_client: Client, user: User) -> None:
    data = {
        "username": user.username,
        "date_joined_0": user.date_joined.strftime("%Y-%m-%d"),
        "date_joined_1": user.date_joined.strftime("%H:%M:%S"),
        # is_active left out: the unticked box
        "quota-TOTAL_FORMS": "1",
        "quota-INITIAL_FORMS": "0",
        "quota-MIN_NUM_FORMS": "0",
        "quota-MAX_NUM_FORMS": "1",
        "quota-0-period": "month",
        "quota-0-cost_limit": "10",
        "quota-0-user": str(user.pk),
    }
    response = admin_client.post(f"{USERS_URL}{user.pk}/change/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors


def _delete_in_the_admin(admin_client: Client, user: User) -> None:
    response = admin_client.post(f"{USERS_URL}{user.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302


@pytest.mark.parametrize(
    "deactivate",
    [
        _deactivate_by_save,
        _deactivate_by_bulk_action,
        _deactivate_by_change_form,
        _delete_in_the_admin,
    ],
    ids=["save", "bulk action", "change form", "deleted"],
)
async def test_deactivated_users_sockets_are_closed(
    upstream, admin_client, alice, bob, runner, deactivate
):
    _, session = await signed_in(alice)
    _, other_session = await signed_in(alice)
    sockets = [await ChatSocket.open(session=s) for s in (session, session, other_session)]
    bystander = await ChatSocket.open(bob)

    await sync_to_async(deactivate)(admin_client, alice)

    for socket in sockets:
        assert await socket.receive_close() == CLOSE_UNAUTHENTICATED
    await still_served(bystander)
    await bystander.close()


async def test_password_change_closes_the_other_sessions_sockets(upstream, alice, runner):
    browser, session = await signed_in(alice)
    _, other_session = await signed_in(alice)
    here, elsewhere = [await ChatSocket.open(session=s) for s in (session, other_session)]

    response = await sync_to_async(browser.post)(
        "/accounts/password_change/",
        {
            "old_password": "correct horse battery",
            "new_password1": "a-new-Secret-42",
            "new_password2": "a-new-Secret-42",
        },
    )
    assert response.status_code == 302

    assert await elsewhere.receive_close() == CLOSE_UNAUTHENTICATED
    # The browser that changed it stays signed in under a new session key, which its socket
    # cannot know: that socket closes too, and the page reconnects with the new cookie.
    assert await here.receive_close() == CLOSE_UNAUTHENTICATED
    again = await ChatSocket.open(session=browser.cookies["sessionid"].value)
    await still_served(again)
    await again.close()


async def test_password_set_by_an_admin_closes_every_socket(upstream, alice, runner):
    sockets = [await ChatSocket.open(alice) for _ in range(2)]

    def set_password() -> None:
        alice.set_password("chosen-by-the-Admin-7")
        alice.save()

    await sync_to_async(set_password)()

    for socket in sockets:
        assert await socket.receive_close() == CLOSE_UNAUTHENTICATED


async def test_saves_that_change_nothing_that_matters_keep_sockets_open(upstream, alice, runner):
    socket = await ChatSocket.open(alice)
    alice.first_name = "Alice"
    await alice.asave()  # a check happens, and finds the session still good
    _, _other = await signed_in(alice)  # a sign-in elsewhere (last_login) is no reason either
    await still_served(socket)
    await socket.close()


# A worker that missed the event (or a change made behind Django's back): the next frame
# checks the session itself. Each change below bypasses signals on purpose.
def _silently_deactivate(user: User, session: str) -> None:
    User.objects.filter(pk=user.pk).update(is_active=False)


def _silently_sign_out(user: User, session: str) -> None:
    Session.objects.filter(session_key=session).delete()


def _silently_change_password(user: User, session: str) -> None:
    User.objects.filter(pk=user.pk).update(password="md5$other$0123")


def _silently_expire(user: User, session: str) -> None:
    Session.objects.filter(session_key=session).update(expire_date="2000-01-01T00:00:00Z")


SILENT_CHANGES = {
    "deactivated": _silently_deactivate,
    "signed out": _silently_sign_out,
    "password changed": _silently_change_password,
    "session expired": _silently_expire,
}


@pytest.mark.parametrize("change", list(SILENT_CHANGES))
async def test_send_after_the_account_changed_is_refused_and_closes(
    upstream, alice, runner, change
):
    _, session = await signed_in(alice)
    socket = await ChatSocket.open(session=session)
    await sync_to_async(SILENT_CHANGES[change])(alice, session)

    await socket.send_text("spend this !tokens=5")

    assert await socket.receive_close() == CLOSE_UNAUTHENTICATED
    assert await Message.objects.acount() == 0, "the frame was not acted on"
    assert await Conversation.objects.acount() == 0
    assert not upstream.requests


async def test_stop_after_deactivation_is_not_acted_on(upstream, alice, runner):
    _, session = await signed_in(alice)
    socket = await ChatSocket.open(session=session)
    await socket.send_text("!tokens=60 !delay=20")
    frames = await socket.receive_deltas(1)
    reply = frames[-1]["message"]
    await sync_to_async(_silently_deactivate)(alice, session)

    await socket.send({"type": "stop", "message": reply, "client_id": "stop"})

    assert await socket.receive_close() == CLOSE_UNAUTHENTICATED
    await runner.wait(reply)
    assert (await Message.objects.aget(pk=reply)).status == "complete", "the stop was ignored"


async def test_retry_after_sign_out_is_not_acted_on(upstream, alice, runner):
    _, session = await signed_in(alice)
    socket = await ChatSocket.open(session=session)
    await socket.send_text("Break !fault=error_mid !tokens=4")
    frames = await socket.receive_until("message.completed")
    assert frames[-1]["status"] == "failed"
    reply = frames[-1]["message"]
    requests = len(upstream.requests)
    await sync_to_async(_silently_sign_out)(alice, session)

    await socket.send({"type": "retry", "message": reply, "client_id": "retry"})

    assert await socket.receive_close() == CLOSE_UNAUTHENTICATED
    assert await Message.objects.filter(conversation__messages__pk=reply).acount() == 2
    assert len(upstream.requests) == requests


async def test_frames_after_the_close_are_ignored(upstream, alice, runner):
    _, session = await signed_in(alice)
    socket = await ChatSocket.open(session=session)
    await sync_to_async(_silently_deactivate)(alice, session)
    await socket.send_text("one")
    await socket.send_text("two")
    assert await socket.receive_close() == CLOSE_UNAUTHENTICATED
    assert await socket.receive_nothing()
    assert await Message.objects.acount() == 0
