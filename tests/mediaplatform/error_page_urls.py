"""The site's URLs, its error handlers, and views that fail: for tests of the 500 answers only."""

from django.urls import path

from mediaplatform import urls as site_urls


def failing_view(request):
    raise RuntimeError("a view failed with a secret in its message: hunter2")


urlpatterns = [
    path("failing-page/", failing_view),
    path("api/v1/failing-endpoint/", failing_view),
    *site_urls.urlpatterns,
]
handler400 = site_urls.handler400
handler403 = site_urls.handler403
handler404 = site_urls.handler404
handler500 = site_urls.handler500
