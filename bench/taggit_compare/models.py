from django.db import models
from taggit.managers import TaggableManager


class TaggitCustomer(models.Model):
    """The same customers, tagged the django-taggit way, for a side-by-side benchmark."""

    name = models.CharField(max_length=255)
    tags = TaggableManager()

    class Meta:
        app_label = "taggit_compare"

    def __str__(self) -> str:
        return self.name
