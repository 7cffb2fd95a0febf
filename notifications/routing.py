from django.urls import path

from notifications.alerts_consumer import StaffAlertsConsumer
from notifications.consumers import VideoEventsConsumer

websocket_urlpatterns = [
    path("ws/videos/", VideoEventsConsumer.as_asgi()),
    path("ws/videos/<uuid:video_id>/", VideoEventsConsumer.as_asgi()),
    path("ws/alerts/", StaffAlertsConsumer.as_asgi()),
]
