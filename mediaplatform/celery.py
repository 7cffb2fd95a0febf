import os

from celery import Celery
from celery.signals import before_task_publish, task_postrun, task_prerun, worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mediaplatform.settings")

app = Celery("mediaplatform")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

REQUEST_ID_HEADER = "mediaplatform_request_id"
_bound_contexts = {}


@before_task_publish.connect
def carry_request_id(headers=None, **kwargs):
    """The request that queued a task travels with it, so its logs and audit rows name that request."""
    from audit.context import current_request_id

    if headers is not None and current_request_id():
        headers[REQUEST_ID_HEADER] = current_request_id()


@task_prerun.connect
def bind_request_id(task_id=None, task=None, **kwargs):
    from audit.context import ActionContext, context_bind, new_request_id

    request_id = new_request_id(getattr(task.request, REQUEST_ID_HEADER, None) or task_id)
    _bound_contexts[task_id] = context_bind(ActionContext(request_id=request_id))


@task_postrun.connect
def unbind_request_id(task_id=None, **kwargs):
    from audit.context import context_reset

    token = _bound_contexts.pop(task_id, None)
    if token is not None:
        context_reset(token)


@worker_ready.connect
def sweep_scratch_on_start(**kwargs):
    """A worker killed mid-job left its scratch copies behind; the next one to start on the host removes them."""
    from processing.services.scratch import worker_leftovers_sweep

    worker_leftovers_sweep()
