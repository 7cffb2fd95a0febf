from django.urls import path

from accounts import views

urlpatterns = [
    # Throttled per address and per username tried, failures counted with the sign-in page's (accounts.sign_in).
    path("auth/token/", views.ApiTokenObtainView.as_view(), name="api-token"),
    path("auth/token/rotate/", views.ApiTokenRotateView.as_view(), name="api-token-rotate"),
    path("ws-ticket/", views.WebsocketTicketView.as_view(), name="ws-ticket"),
    path("api-keys/", views.ApiKeyListCreateView.as_view(), name="api-key-list"),
    path("api-keys/<int:key_id>/", views.ApiKeyDetailView.as_view(), name="api-key-detail"),
]
