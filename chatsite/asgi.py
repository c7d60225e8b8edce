"""ASGI entry point: HTTP through Django, /ws/chat/ through the session-authenticated consumer."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402  (needs Django set up)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from chatsite.access_log import SocketLogMiddleware  # noqa: E402
from conversations.lifecycle import StartupReaper  # noqa: E402
from conversations.routing import websocket_urlpatterns  # noqa: E402

application = StartupReaper(
    ProtocolTypeRouter(
        {
            "http": django_asgi_app,
            "websocket": AllowedHostsOriginValidator(
                AuthMiddlewareStack(SocketLogMiddleware(URLRouter(websocket_urlpatterns)))
            ),
        }
    )
)
