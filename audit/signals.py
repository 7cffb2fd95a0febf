from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed

from audit.services import audit_record, audit_record_many


def record_sign_in(sender, request, user, **kwargs):
    audit_record(action="auth.sign_in", obj=user, actor=user)


def record_sign_out(sender, request, user, **kwargs):
    if user is not None:
        audit_record(action="auth.sign_out", obj=user, actor=user)


def record_failed_sign_in(sender, credentials, request=None, **kwargs):
    # The password never reaches the audit trail; the username tried does.
    username = str(credentials.get("username", ""))[:150]
    audit_record_many(
        action="auth.sign_in_failed",
        object_type="auth.User",
        changes=[(username or "?", {}, {"username": username})],
        actor_label="anonymous",
    )


def connect_sign_in_receivers() -> None:
    user_logged_in.connect(record_sign_in, dispatch_uid="audit_sign_in")
    user_logged_out.connect(record_sign_out, dispatch_uid="audit_sign_out")
    user_login_failed.connect(record_failed_sign_in, dispatch_uid="audit_sign_in_failed")
