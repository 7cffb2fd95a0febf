from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Identity: roles, API keys and tokens, how requests and websockets authenticate, sign-in throttling."""

    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from accounts.signals import connect_credential_receivers

        connect_credential_receivers()
