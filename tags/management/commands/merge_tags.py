"""Merge duplicate tags into one, keeping the old names as aliases."""

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError, CommandParser

from config.commands import ProjectCommand
from config.exceptions import DomainError
from segments.selectors import TagMergeWithRules, tags_merge_preview_with_rules
from segments.services import tags_merge_with_rules
from tags.selectors import tag_find


class Command(ProjectCommand):
    help = (
        "Merge tags SRC... into DST: move their assignments (a customer holding both keeps "
        "one), rewrite segment rules, soft-delete the sources and keep their names as aliases."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("sources", nargs="+", metavar="SRC", help="Tag names or ids.")
        parser.add_argument("--into", required=True, metavar="DST", help="Tag name or id.")
        parser.add_argument("--reason", default="", help="Reason kept in the history.")
        parser.add_argument("--user", metavar="USERNAME", help="Who the history names.")
        parser.add_argument("--dry-run", action="store_true", help="Count; change nothing.")

    def handle(self, *args, sources: list[str], into: str, reason: str, user, dry_run, **options):
        target = tag_find(into)
        if target is None:
            raise CommandError(f"No tag named {into!r}.")
        found = {value: tag_find(value) for value in sources}
        if missing := [value for value, tag in found.items() if tag is None]:
            raise CommandError(f"No tag named {', '.join(map(repr, missing))}.")
        actor = None
        if user is not None:
            actor = get_user_model().objects.filter(username=user).first()
            if actor is None:
                raise CommandError(f"No user named {user!r}.")
        tags = list({t.pk: t for t in found.values()}.values())
        try:
            if dry_run:
                merge = tags_merge_preview_with_rules(sources=tags, into=target)
            else:
                merge = tags_merge_with_rules(sources=tags, into=target, actor=actor, reason=reason)
        except DomainError as error:
            raise CommandError(str(error)) from error
        self._report(merge, dry_run)

    def _report(self, merge: TagMergeWithRules, dry_run: bool) -> None:
        if not merge.sources:
            self.stdout.write(f"Nothing to do: already merged into '{merge.into.name}'.")
            return
        names = ", ".join(f"'{t.name}'" for t in merge.sources)
        into = merge.into.name
        segments = f": {', '.join(merge.segments)}" if merge.segments else ""
        if dry_run:
            self.stdout.write(
                f"Dry run: nothing changed. Merging {names} into '{into}' would move "
                f"{merge.moved:,} assignment(s) ({merge.already_held:,} customer(s) already "
                f"have '{into}') and rewrite {len(merge.segments)} segment(s){segments}."
            )
            return
        self.stdout.write(
            f"Merged {names} into '{into}': moved {merge.moved:,} assignment(s) "
            f"({merge.already_held:,} customer(s) already had '{into}'), rewrote "
            f"{len(merge.segments)} segment(s){segments}; the old names are aliases of '{into}'."
        )
        if merge.change_set is not None:
            self.stdout.write(f"Recorded as change-set {merge.change_set.pk}.")
