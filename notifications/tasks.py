from celery import shared_task

from notifications.services.alerts import alerts_evaluate
from notifications.services.delivery import deliver_pending_events, outbox_purge


@shared_task(name="notifications.tasks.deliver_pending_events")
def deliver_pending_events_task() -> int:
    return deliver_pending_events()


@shared_task(name="notifications.tasks.purge_outbox")
def purge_outbox_task() -> int:
    return outbox_purge()


@shared_task(bind=True, name="notifications.tasks.deliver_webhook", max_retries=None, acks_late=True)
def deliver_webhook(self, delivery_id: int) -> None:
    from notifications.services.webhooks import webhook_deliver

    retry_in = webhook_deliver(delivery_id=delivery_id)
    if retry_in is not None:
        # The delivery counts its own attempts; Celery only waits.
        raise self.retry(countdown=retry_in)


@shared_task(name="notifications.tasks.evaluate_alerts")
def evaluate_alerts_task() -> dict[str, list[str]]:
    evaluation = alerts_evaluate()
    return {
        "opened": [alert.check_name for alert in evaluation.opened],
        "resolved": [alert.check_name for alert in evaluation.resolved],
        "open": [alert.check_name for alert in evaluation.still_open],
    }
