import factory

from accounts.models import AccountProfile, Role
from tests.factories import UserFactory


class AccountProfileFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AccountProfile

    user = factory.SubFactory(UserFactory)
    role = Role.USER
