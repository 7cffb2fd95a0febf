from django.urls import path

from processing import media_api

urlpatterns = [
    path("analyze", media_api.AnalyzeView.as_view(), name="media-analyze"),
    path("history", media_api.AnalysisHistoryView.as_view(), name="media-history"),
    path("status/<str:analysis_id>", media_api.AnalysisStatusView.as_view(), name="media-status"),
    path("<str:analysis_id>", media_api.AnalysisDeleteView.as_view(), name="media-delete"),
]
