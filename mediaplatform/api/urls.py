from django.urls import include, path

from mediaplatform.api import views_access

urlpatterns = [
    # Throttled per address and per username tried, failures counted with the sign-in page's (views_access).
    path("auth/token/", views_access.ApiTokenObtainView.as_view(), name="api-token"),
    path("auth/token/rotate/", views_access.ApiTokenRotateView.as_view(), name="api-token-rotate"),
    path("ws-ticket/", views_access.WebsocketTicketView.as_view(), name="ws-ticket"),
    path("api-keys/", views_access.ApiKeyListCreateView.as_view(), name="api-key-list"),
    path("api-keys/<int:key_id>/", views_access.ApiKeyDetailView.as_view(), name="api-key-detail"),
    path("", include("videos.urls")),
    path("", include("processing.urls")),
]
