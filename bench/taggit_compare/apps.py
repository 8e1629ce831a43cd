from django.apps import AppConfig


class TaggitCompareConfig(AppConfig):
    name = "bench.taggit_compare"
    label = "taggit_compare"
