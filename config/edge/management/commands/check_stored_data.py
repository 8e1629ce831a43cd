"""Report stored rows that the API would refuse today, e.g. written before a rule existed."""

from django.core.management.base import CommandError
from rest_framework.exceptions import ErrorDetail

from config.commands import ProjectCommand
from config.edge.api_urls import router  # the edge that knows every resource


def flatten_errors(detail, path: str = "") -> list[str]:
    """``["metadata.info.0.value: This field is required.", …]`` from a serializer's errors."""
    if isinstance(detail, dict):
        return [
            line
            for key, value in detail.items()
            for line in flatten_errors(
                value, path if key == "non_field_errors" else f"{path}.{key}" if path else str(key)
            )
        ]
    if isinstance(detail, list):
        if all(isinstance(item, (str, ErrorDetail)) for item in detail):
            return [f"{path or '(object)'}: {item}" for item in detail]
        return [
            line
            for index, item in enumerate(detail)
            for line in flatten_errors(item, f"{path}.{index}" if path else str(index))
        ]
    return [f"{path or '(object)'}: {detail}"]


class Command(ProjectCommand):
    help = (
        "Check every customer, tag, segment, status and status label against the API's "
        "serializers, as if each were sent back unchanged; list the rows that would not "
        "validate and exit 1 if there is any."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--resource",
            action="append",
            help="Only these API resources (e.g. customer_tags); repeatable. Default: all.",
        )
        parser.add_argument("--batch-size", type=int, default=2000)

    def handle(self, *args, resource=None, batch_size: int = 2000, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        registry: dict = {}
        for prefix, viewset, _ in router.registry:
            # The first viewset on a prefix is the resource's own; later ones add routes.
            registry.setdefault(prefix, viewset)
        if unknown := set(resource or ()) - set(registry):
            raise CommandError(f"Unknown resource(s): {', '.join(sorted(unknown))}.")
        checked = invalid = 0
        for prefix, viewset in registry.items():
            if resource and prefix not in resource:
                continue
            view = viewset(action="retrieve", request=None, format_kwarg=None, kwargs={})
            serializer_class = view.get_serializer_class()
            context = {"includes": set(view.includes_choices)}
            queryset = view.get_queryset().order_by("pk")
            for obj in queryset.iterator(chunk_size=batch_size):
                checked += 1
                problems = self.problems(serializer_class, obj, context)
                if problems:
                    invalid += 1
                    for problem in problems:
                        self.stdout.write(f"{prefix} {obj.pk}: {problem}")
        summary = f"{checked} rows checked, {invalid} would not validate."
        if invalid:
            raise CommandError(summary)
        self.stdout.write(self.style.SUCCESS(summary))

    @staticmethod
    def problems(serializer_class, obj, context: dict) -> list[str]:
        try:
            rendered = serializer_class(obj, context=context).data
        except Exception as error:
            return [f"cannot be rendered: {type(error).__name__}: {error}"]
        serializer = serializer_class(obj, context=context)
        data = {
            name: rendered[name]
            for name, field in serializer.fields.items()
            if not field.read_only and name in rendered
        }
        serializer = serializer_class(obj, data=data, context=context)
        if serializer.is_valid():
            return []
        return flatten_errors(serializer.errors)
