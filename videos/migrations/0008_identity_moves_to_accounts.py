from django.db import migrations


class Migration(migrations.Migration):
    """Roles and API keys now belong to the accounts app: their tables are renamed to that app's names (no
    data is copied) and the models leave this app's state; accounts.0001_initial takes them over."""

    dependencies = [
        ("videos", "0007_video_cancelled_at"),
    ]

    operations = [
        migrations.AlterModelTable(name="accountprofile", table="accounts_accountprofile"),
        migrations.AlterModelTable(name="apikey", table="accounts_apikey"),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="AccountProfile"),
                migrations.DeleteModel(name="ApiKey"),
            ],
            database_operations=[],
        ),
    ]
