from django.urls import path

from videos import views, views_tus

urlpatterns = [
    path("stats/", views.StatsView.as_view(), name="stats"),
    path("videos/", views.VideoListCreateView.as_view(), name="video-list"),
    path("videos/import/", views.VideoUrlImportView.as_view(), name="video-url-import"),
    path("videos/bulk/", views.VideoBulkView.as_view(), name="video-bulk"),
    path("videos/<uuid:video_id>/", views.VideoDetailView.as_view(), name="video-detail"),
    path("videos/<uuid:video_id>/cancel/", views.VideoCancelView.as_view(), name="video-cancel"),
    path("videos/<uuid:video_id>/retry/", views.VideoRetryView.as_view(), name="video-retry"),
    path("videos/<uuid:video_id>/archive/", views.VideoArchiveView.as_view(), name="video-archive"),
    path("tus/", views_tus.TusUploadListView.as_view(), name="tus-list"),
    path("tus/<uuid:upload_id>/", views_tus.TusUploadDetailView.as_view(), name="tus-detail"),
]
