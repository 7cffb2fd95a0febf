import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

MOVED_MODELS = ("accountprofile", "apikey")


def _move_content_types(apps, *, from_app: str, to_app: str) -> None:
    """Permissions granted on the moved models follow them: their content types change app, keeping their ids."""
    content_type = apps.get_model("contenttypes", "ContentType")
    for model in MOVED_MODELS:
        if not content_type.objects.filter(app_label=to_app, model=model).exists():
            content_type.objects.filter(app_label=from_app, model=model).update(app_label=to_app)


def content_types_to_accounts(apps, schema_editor) -> None:
    _move_content_types(apps, from_app="videos", to_app="accounts")


def content_types_to_videos(apps, schema_editor) -> None:
    _move_content_types(apps, from_app="accounts", to_app="videos")


class Migration(migrations.Migration):
    """Takes over AccountProfile and ApiKey from the videos app: their tables already exist (created by
    videos.0004, renamed by videos.0008), so this only creates them in the migration state."""

    initial = True

    dependencies = [
        ("videos", "0008_identity_moves_to_accounts"),
        ("contenttypes", "0002_remove_content_type_name"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="AccountProfile",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID"),
                        ),
                        (
                            "role",
                            models.CharField(
                                choices=[("admin", "Admin"), ("user", "User"), ("viewer", "Viewer")],
                                default="user",
                                max_length=10,
                            ),
                        ),
                        (
                            "user",
                            models.OneToOneField(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="account_profile",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                ),
                migrations.CreateModel(
                    name="ApiKey",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID"),
                        ),
                        ("name", models.CharField(max_length=100)),
                        ("prefix", models.CharField(max_length=8, unique=True)),
                        ("key_hash", models.CharField(max_length=64, unique=True)),
                        ("expires_at", models.DateTimeField(blank=True, null=True)),
                        ("last_used_at", models.DateTimeField(blank=True, null=True)),
                        ("revoked_at", models.DateTimeField(blank=True, null=True)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        (
                            "user",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="api_keys",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "ordering": ["-created_at"],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(content_types_to_accounts, content_types_to_videos),
    ]
