import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mediaplatform.settings")

from mediaplatform.admission import get_admission_controlled_asgi_application  # noqa: E402

# The Django app must be set up before anything imports models.
django_asgi_app = get_admission_controlled_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from accounts.websocket import SessionOrTokenAuthMiddleware  # noqa: E402
from notifications.origin import browser_origin_validator  # noqa: E402
from notifications.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": browser_origin_validator(SessionOrTokenAuthMiddleware(URLRouter(websocket_urlpatterns))),
    }
)

from mediaplatform.heap import load_urls_and_freeze_heap  # noqa: E402

load_urls_and_freeze_heap()
