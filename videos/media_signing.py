"""Short-lived signed URLs for the media a player loads, which nginx checks and serves without asking Django.

A player asks for many byte ranges per viewing (every seek is one or more requests). Checking the user in Django
for each of them made the permission check, not the bytes, the limit: with 100 viewers seeking, the platform
sent well under half of what nginx sends alone. So the check is done once, when the page or the API hands out the
URL, and the URL carries the proof: nginx's secure_link module checks an MD5 of the expiry, the path and a secret
(nginx's own format: `md5=<base64url of md5("<expires><uri> <secret>")>&expires=<unix time>`) and answers ranges
itself. Such a URL is a capability, like an object store's presigned URL: whoever holds it may read that one file
until it expires. Expiries are rounded up to a window, so the URL of a file stays the same for a while and the
browser's cache keeps working; a deleted video's derived files are removed at once, so its URLs stop serving.

Without nginx in front (runserver, the test client) the view `signed_media_file` checks the same signature.
With media in an object store, players are handed the store's own presigned URLs instead
(videos.selectors_playback), and a signed URL handed out before is answered with a redirect to one.
"""

import base64
import hashlib
import hmac
import math
import time
from urllib.parse import quote

from django.conf import settings

SIGNED_MEDIA_PREFIX = "/media/signed/"


def media_signing_secret() -> str:
    """The secret nginx and Django share; derived from SECRET_KEY unless MEDIA_SIGNING_SECRET names one."""
    configured = getattr(settings, "MEDIA_SIGNING_SECRET", "")
    if configured:
        return configured
    return hmac.new(settings.SECRET_KEY.encode(), b"mediaplatform signed media", hashlib.sha256).hexdigest()


def _token(expires: int, uri: str) -> str:
    digest = hashlib.md5(f"{expires}{uri} {media_signing_secret()}".encode(), usedforsecurity=False).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def signed_media_url(name: str, *, now: float | None = None) -> str:
    """The URL of a stored file (its name under MEDIA_ROOT) that serves it until the signature expires."""
    window = settings.MEDIA_SIGNED_URL_WINDOW_SECONDS
    earliest = (time.time() if now is None else now) + settings.MEDIA_SIGNED_URL_SECONDS
    expires = int(math.ceil(earliest / window) * window)
    uri = SIGNED_MEDIA_PREFIX + name
    return f"{quote(uri)}?md5={_token(expires, uri)}&expires={expires}"


def signed_media_name(*, path: str, token: str, expires: str, now: float | None = None) -> str | None:
    """The stored file's name a signed request may read (path as decoded by the URL resolver), or None."""
    if not expires.isdigit() or len(expires) > 12:
        return None
    if int(expires) < (time.time() if now is None else now):
        return None
    uri = SIGNED_MEDIA_PREFIX + path
    if not hmac.compare_digest(_token(int(expires), uri), token):
        return None
    return path
