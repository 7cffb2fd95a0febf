from django.urls import path

from processing import views, views_queue

urlpatterns = [
    path("models/", views.DetectorModelListCreateView.as_view(), name="model-list"),
    path("models/catalog/", views.ModelCatalogView.as_view(), name="model-catalog"),
    path("models/install/", views.ModelInstallView.as_view(), name="model-install"),
    path("models/installs/<int:install_id>/", views.ModelInstallDetailView.as_view(), name="model-install-detail"),
    path("models/<int:model_id>/", views.DetectorModelDetailView.as_view(), name="model-detail"),
    path("videos/<uuid:video_id>/detections/", views.VideoDetectionListView.as_view(), name="video-detections"),
    path("videos/<uuid:video_id>/jobs/", views.VideoJobListCreateView.as_view(), name="video-jobs"),
    path(
        "videos/<uuid:video_id>/ground-truth/",
        views.VideoGroundTruthImportView.as_view(),
        name="video-ground-truth-import",
    ),
    path("videos/<uuid:video_id>/evaluations/", views.VideoEvaluationListView.as_view(), name="video-evaluations"),
    path("videos/<uuid:video_id>/errors/", views.VideoErrorListView.as_view(), name="video-errors"),
    path("jobs/", views_queue.JobQueueListView.as_view(), name="job-list"),
    path("usage/", views_queue.UsageView.as_view(), name="usage"),
    path("usage/users/", views_queue.UsageByUserView.as_view(), name="usage-by-user"),
    path("storage/statistics/", views_queue.StorageStatisticsView.as_view(), name="storage-statistics"),
    path("jobs/<uuid:job_id>/", views.JobDetailView.as_view(), name="job-detail"),
    path("jobs/<uuid:job_id>/detections/", views.JobDetectionListView.as_view(), name="job-detections"),
    path(
        "jobs/<uuid:job_id>/detections/summary/",
        views.JobDetectionSummaryView.as_view(),
        name="job-detection-summary",
    ),
    path("jobs/<uuid:job_id>/export/<str:export_format>/", views.JobExportView.as_view(), name="job-export"),
    path("jobs/<uuid:job_id>/annotated-video/", views.JobAnnotatedVideoView.as_view(), name="job-annotated-video"),
    path(
        "jobs/<uuid:job_id>/annotated-video/choices/",
        views.JobAnnotatedVideoChoicesView.as_view(),
        name="job-annotated-video-choices",
    ),
    path("jobs/<uuid:job_id>/ground-truth/", views.JobGroundTruthView.as_view(), name="job-ground-truth"),
    path("jobs/<uuid:job_id>/evaluation/", views.JobEvaluationView.as_view(), name="job-evaluation"),
]
