import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mediaplatform.settings")

django_application = get_wsgi_application()

from mediaplatform.heap import load_urls_and_freeze_heap  # noqa: E402 - needs the app set up

load_urls_and_freeze_heap()

# Set by mediaplatform.serve, whose gunicorn listens on a unix socket only its nginx reaches: the WSGI peer is
# always that nginx, and the header it sets (overwriting whatever the client sent) is the client's address.
# Sign-in limits, rate limits and the audit trail all read REMOTE_ADDR.
CLIENT_ADDRESS_HEADER = os.environ.get("WSGI_CLIENT_ADDRESS_HEADER", "")


def application_behind_local_proxy(environ, start_response):
    client_address = environ.get(CLIENT_ADDRESS_HEADER)
    if client_address:
        environ["REMOTE_ADDR"] = client_address
    return django_application(environ, start_response)


application = application_behind_local_proxy if CLIENT_ADDRESS_HEADER else django_application
