from django.db import migrations


class Migration(migrations.Migration):
    """A video's retention policy and data classification were stored and never read: retention is decided by
    the retention settings, for every video alike."""

    dependencies = [
        ("videos", "0008_identity_moves_to_accounts"),
    ]

    operations = [
        migrations.RemoveField(model_name="video", name="retention_policy"),
        migrations.RemoveField(model_name="video", name="data_classification"),
    ]
