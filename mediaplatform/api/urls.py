from django.urls import include, path
from rest_framework.authtoken.views import ObtainAuthToken

from mediaplatform.api import views_access
from mediaplatform.api.throttling import RedisRateThrottle

urlpatterns = [
    # DRF leaves this view unthrottled; the anonymous rate per address keeps passwords from being guessed at speed.
    path("auth/token/", ObtainAuthToken.as_view(throttle_classes=[RedisRateThrottle]), name="api-token"),
    path("api-keys/", views_access.ApiKeyListCreateView.as_view(), name="api-key-list"),
    path("api-keys/<int:key_id>/", views_access.ApiKeyDetailView.as_view(), name="api-key-detail"),
    path("", include("videos.urls")),
    path("", include("processing.urls")),
]
