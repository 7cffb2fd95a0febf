from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from accounts.sign_in import ThrottledLoginView, throttled_admin_login
from mediaplatform import health, metrics
from videos.views_dashboard import dashboard

urlpatterns = [
    path("", dashboard, name="dashboard"),
    path("", include("videos.urls_dashboard")),
    path("", include("processing.urls_dashboard")),
    path("accounts/login/", ThrottledLoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/login/", throttled_admin_login, name="admin-login"),  # ahead of the admin's own
    path("admin/", admin.site.urls),
    path("health/live", health.live, name="health-live"),
    path("health/ready", health.ready, name="health-ready"),
    path("metrics", metrics.metrics, name="metrics"),
    path("api/v1/audit/", include("audit.urls")),
    path("api/v1/webhooks/", include("notifications.urls")),
    path("api/v1/", include("mediaplatform.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves its start-up script from a URL of its own, so the page runs under script-src 'self'.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/media/", include("processing.media_urls")),
]

# With DEBUG off: the JSON error body under /api/, the site's own pages elsewhere (mediaplatform/error_pages.py).
handler400 = "mediaplatform.error_pages.bad_request"
handler403 = "mediaplatform.error_pages.permission_denied"
handler404 = "mediaplatform.error_pages.page_not_found"
handler500 = "mediaplatform.error_pages.server_error"
