"""A video's page and the detections its player reads (included from mediaplatform/urls.py)."""

from django.urls import path

from processing import views_dashboard

urlpatterns = [
    path("videos/<uuid:video_id>/", views_dashboard.video_page, name="video-page"),
    path("videos/<uuid:video_id>/detections.json", views_dashboard.video_detections, name="video-page-detections"),
]
