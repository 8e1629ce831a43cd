"""The jobs list for staff: django-tasks-db's read-only admin, with each job's error in the
list. Seeing it takes the "Can view task result" permission (or superuser)."""

from django.contrib import admin
from django_tasks_db.admin import DBTaskResultAdmin
from django_tasks_db.models import DBTaskResult


class JobAdmin(DBTaskResultAdmin):
    list_display = ("task_name", "status", "enqueued_at", "started_at", "finished_at", "error")
    list_display_links = ("task_name",)
    list_filter = ("status", "queue_name")
    search_fields = ("task_path", "exception_class_path")

    @admin.display(description="error")
    def error(self, obj: DBTaskResult) -> str:
        """The exception's class and message (the traceback's last line); "" for none."""
        if not obj.exception_class_path:
            return ""
        name = obj.exception_class_path.rsplit(".", 1)[-1]
        lines = [line.strip() for line in obj.traceback.splitlines() if line.strip()]
        last = lines[-1] if lines else ""
        return last if last.startswith(name) else f"{name}: {last}".rstrip(": ")


admin.site.unregister(DBTaskResult)
admin.site.register(DBTaskResult, JobAdmin)
