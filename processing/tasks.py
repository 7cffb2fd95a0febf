from celery import shared_task

from processing.services.pipeline import job_run


@shared_task(
    bind=True, name="processing.tasks.process_video", acks_late=True, reject_on_worker_lost=True, max_retries=None
)
def process_video(self, job_id: str, unrecorded_failure: dict | None = None) -> None:
    outcome = job_run(job_id=job_id, celery_task_id=self.request.id or "", unrecorded_failure=unrecorded_failure)
    if outcome is not None and outcome.retry_in_seconds is not None:
        # The recovery matrix, not Celery, counts the attempts; a failure the database
        # could not take travels with the retry, to be recorded by the next attempt.
        raise self.retry(countdown=outcome.retry_in_seconds, kwargs={"unrecorded_failure": outcome.unrecorded})


@shared_task(name="processing.tasks.requeue_stuck_jobs")
def requeue_stuck_jobs() -> int:
    from processing.services.sweeps import stuck_jobs_requeue

    return len(stuck_jobs_requeue())


@shared_task(name="processing.tasks.retention_cleanup")
def retention_cleanup_task() -> list[str]:
    from processing.services.retention import audit_cleanup_run, retention_cleanup

    report = retention_cleanup()
    audit_cleanup_run(report)
    return report.lines()


@shared_task(name="processing.tasks.evaluate_run", acks_late=True)
def evaluate_run(evaluation_id: int) -> str:
    from processing.services.evaluation import evaluation_run

    return evaluation_run(evaluation_id=evaluation_id).status


@shared_task(name="processing.tasks.install_model")
def install_model(install_id: int) -> str:
    from processing.services.model_install import InstallRefused, model_install_run

    try:
        return model_install_run(install_id=install_id).status
    except InstallRefused as exc:
        # The row says why for the admin and the socket; a refusal is an outcome, not a task error to retry.
        return f"failed: {exc.code}"


@shared_task(name="processing.tasks.render_annotated_video")
def render_annotated_video(render_id: str) -> str:
    # The default queue: drawing and encoding need no model, so they never wait behind inference.
    from processing.services.annotated_video import annotated_video_render

    render = annotated_video_render(render_id=render_id)
    return render.status if render is not None else "gone"


@shared_task(name="processing.tasks.fetch_analysis_media", acks_late=True)
def fetch_analysis_media(analysis_id: str, token: str) -> str:
    from videos.services.media_analysis import media_analysis_fetch

    return media_analysis_fetch(analysis_id=analysis_id, token=token)


@shared_task(name="processing.tasks.requeue_lost_analysis_fetches")
def requeue_lost_analysis_fetches() -> int:
    from videos.services.media_analysis import media_analysis_fetches_requeue

    return len(media_analysis_fetches_requeue())
