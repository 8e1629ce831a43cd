import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from customers.models import Customer


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")

    @factory.post_generation
    def perms(self, create, extracted, **kwargs):
        """``UserFactory(perms=["customers.view_customer"])`` grants those permissions."""
        for perm in extracted or ():
            app_label, codename = perm.split(".")
            self.user_permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    name = factory.Faker("name")
    email = factory.Sequence(lambda n: f"customer{n}@example.com")
    mobile = factory.Sequence(lambda n: f"1555{n:07d}")
    reference_id = factory.Sequence(lambda n: f"ref-{n}")


class TagFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "tags.Tag"

    name = factory.Sequence(lambda n: f"tag {n}")


class TagAssignmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "tags.TagAssignment"

    customer = factory.SubFactory(CustomerFactory)
    tag = factory.SubFactory(TagFactory)
    source = "api"
