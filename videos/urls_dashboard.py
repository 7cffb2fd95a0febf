"""The dashboard's pages and the reads and uploads they use (included from mediaplatform/urls.py)."""

from django.urls import path

from videos import views_dashboard, views_media, views_uploads

urlpatterns = [
    path("videos/<uuid:video_id>/", views_dashboard.video_page, name="video-page"),
    path("videos/<uuid:video_id>/file", views_media.video_file, name="video-file"),
    path("videos/<uuid:video_id>/detections.json", views_dashboard.video_detections, name="video-page-detections"),
    path("api/v1/uploads/", views_uploads.UploadListView.as_view(), name="upload-list"),
    path("api/v1/uploads/<uuid:upload_id>/", views_uploads.UploadDetailView.as_view(), name="upload-detail"),
]
