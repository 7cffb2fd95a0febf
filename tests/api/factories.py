import factory

from tests.factories import UserFactory
from videos.models_access import AccountProfile, Role


class AccountProfileFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AccountProfile

    user = factory.SubFactory(UserFactory)
    role = Role.USER
