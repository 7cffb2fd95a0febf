"""Origin checking for websockets that also admits non-browser API clients."""

from channels.security.websocket import OriginValidator
from django.conf import settings


class BrowserOriginValidator(OriginValidator):
    """Refuses cross-site browser connections; lets through clients that send no Origin.

    Browsers always send Origin, and only a browser carries a victim's session
    cookie, so a missing Origin is a script or service using its own token.
    """

    def valid_origin(self, parsed_origin):
        if parsed_origin is None:
            return True
        return super().valid_origin(parsed_origin)


def browser_origin_validator(application):
    return BrowserOriginValidator(application, settings.ALLOWED_HOSTS)
