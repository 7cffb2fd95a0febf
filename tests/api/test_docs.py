import re

from django.contrib.staticfiles import finders


def test_swagger_ui_is_served_from_our_own_static_files(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    page = response.content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+\.(?:js|css|png))"', page)
    assert assets, page[:500]
    for url in assets:
        assert url.startswith("/static/"), url  # nothing from a CDN
        assert finders.find(url.removeprefix("/static/")), url
    # The start-up script comes from its own URL (no inline script, for the Content-Security-Policy).
    assert '<script src="/api/docs/?script="></script>' in page
    start_up = client.get("/api/docs/?script=")
    assert start_up.status_code == 200 and "javascript" in start_up["Content-Type"]
    assert "/api/schema/" in start_up.content.decode()


def test_schema_documents_every_api_and_the_api_key_scheme(client):
    schema = client.get("/api/schema/?format=json").json()
    assert "ApiKeyAuth" in schema["components"]["securitySchemes"]
    for path in [
        "/api/v1/api-keys/",
        "/api/v1/videos/{video_id}/",
        "/api/v1/jobs/{job_id}/export/{export_format}/",
        "/api/v1/models/",
        "/api/v1/stats/",
        "/api/media/analyze",
        "/api/media/status/{analysis_id}",
        "/api/media/history",
    ]:
        assert path in schema["paths"], path
