from django.db import migrations

# The schedule this migration created is declared in settings.CELERY_BEAT_SCHEDULE and written into
# django-celery-beat's tables after every migrate (mediaplatform.beat); the operation stays, as a no-op,
# so the migration history is unchanged.


class Migration(migrations.Migration):
    dependencies = [
        ("processing", "0003_stuck_job_sweep_schedule"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(migrations.RunPython.noop, migrations.RunPython.noop)]
