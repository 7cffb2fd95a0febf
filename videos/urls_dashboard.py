"""The dashboard's pages and the reads and uploads they use (included from mediaplatform/urls.py)."""

from django.urls import path

from videos import views_media, views_uploads

urlpatterns = [
    path("videos/<uuid:video_id>/file", views_media.video_file, name="video-file"),
    path("videos/<uuid:video_id>/playback/<str:name>", views_media.video_derived_file, name="video-derived-file"),
    path("media/signed/<path:path>", views_media.signed_media_file, name="signed-media-file"),
    path("api/v1/uploads/", views_uploads.UploadListView.as_view(), name="upload-list"),
    path("api/v1/uploads/<uuid:upload_id>/", views_uploads.UploadDetailView.as_view(), name="upload-detail"),
]
