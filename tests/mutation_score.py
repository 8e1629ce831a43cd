"""Mutation score per module from mutmut's results (``make mutation`` prints it).

Reads ``mutants/**/*.py.meta`` (mutmut 3) and names each mutant's outcome as mutmut does
(``mutmut.stats.status_by_exit_code``): killed, survived, no tests (no test runs the mutated
function), timeout (the tests hit mutmut's CPU limit: here mostly the schema fuzz test, which the
stats phase times short, running before the test that would decide). Only killed counts as
caught; a timeout is not a kill. Mutants listed in ``EQUIVALENT`` cannot change behaviour, and
those in ``SQLITE_BLIND`` change only what SQLite cannot show (row-lock strength); each is
justified there, and they are left out of the score.

``python tests/mutation_score.py [DIR ...]``: each DIR is the ``mutants`` directory of another
run of the same code, on PostgreSQL or of some modules alone with a narrower selection (see the
README's Testing section); a mutant the main run left alive counts as killed when such a run
killed it, and one the main run did not reach takes that run's result. The PostgreSQL-only SQL (the PostgreSQL
assignment writer) has no tests on SQLite, where ``make mutation`` runs.
"""

import json
import sys
from pathlib import Path

from mutmut.stats import status_by_exit_code

ROOT = Path(__file__).resolve().parents[1]
CAUGHT = {"killed", "caught by type check", "segfault"}

# The same mutation in several places, one reason.
_CASE = "SQL keywords and unquoted identifiers are case-insensitive: the same statement"
_TRUTHY_DEFAULT = (
    "getattr's default None instead of False: only its truth is tested, and both are false"
)
_NO_KEY_NONE = "select_for_update(no_key=None) is FOR UPDATE, like no_key=False"
_NEAR_LIMIT = (
    "the limit is then checked for every customer of the batch instead of those found near it "
    "first: the same refusal, only slower (the near ones are a subset that includes all over it)"
)

_ASCII = (
    "the method and get_full_path() are ASCII (Django escapes the path and query), so the "
    "codec's name and error handler never matter"
)
_SEPARATOR = (
    "another constant mixed into every fingerprint alike: requests still match exactly when "
    "their method, path, body and format do"
)
_RENDERED = (
    "a response with render() always has is_rendered, and rendering twice is a no-op: the "
    "default and the operator never decide"
)
_CONTENT_TYPE = (
    "every answer to a POST has a body and so a Content-Type (DRF drops the header only from "
    "an empty body, the 204 of a DELETE): the default is never used"
)

_FIRST_BRANCH = "= instead of += in the first branch that fills the list: it is still empty there"
_ALIAS = (
    "letters glued to the end of a select item are its alias in PostgreSQL (count(*)XX is "
    "count(*) AS XX): the same columns by position"
)
_STRICT = (
    "zip's strict check dropped: both sides are the same ids, one converted, so never of "
    "different lengths"
)
_VALUES_DEFAULT = (
    "the values of a change given none: they only stamp assignments added, and the only "
    "change given none is a remove"
)
_BATCH_SIZE = (
    "the parameters kept in reserve when sizing a batch: a batch's ids go as one array "
    "parameter on both databases, so only the batch size moves, and batches are not visible"
)
_DEFAULT_CODE = "code 'invalid' left out or None: InvalidInput's own code is 'invalid'"
_PREPARED = (
    "get_db_prep_value's prepared flag: None or left out is False; True skips get_prep_value, "
    "which here only validates (ULIDField converts in get_db_prep_value whatever the flag) or "
    "leaves aware datetimes as they are"
)
_FORCE_INSERT = (
    "a new instance whose primary key has a default is inserted without an UPDATE first "
    "whatever force_insert says (Django's Model._save_table): create=True only restates it"
)

# name → why no test can kill it (the mutant behaves exactly like the original)
_VIEW_ATTRIBUTE = (
    "getattr's default is never used: every API view has action_permissions (ApiViewMixin "
    "declares it) and action (a viewset)"
)
_FIRST_FIELD = (
    "values_list(flat=True) with no field names every field and keeps the first, the primary "
    "key: the same ids"
)
_ACTOR_DEFAULT_TRUE = (
    "getattr's default True: every actor given is None or has is_authenticated, and None "
    "gives None either way"
)
_CURRENT_ROW_SAVED = (
    "a full save instead of the fields named: the instance holds the row as stored (read a "
    "moment before in the same transaction, or the one the run itself saved batch by batch), "
    "and nothing else writes that row meanwhile, so every other column is written back as it is"
)
_OTHER_COUNT = (
    "a rule with two 'all' tags is then counted by rule_q instead of the grouped SQL: the same "
    "count (test_members_count_and_per_customer_evaluation checks both against the same members)"
)


EQUIVALENT: dict[str, str] = {
    # tags/services/expiry.py
    "tags.services.expiry.x__batch__mutmut_10": (
        "ordered by customer only: the order within one customer decides only which of its rows "
        "share a batch when it alone fills one, and every order removes the same rows with the "
        "same history and one event per batch"
    ),
    "tags.services.expiry.x_tags_expire__mutmut_1": (
        "default batch size 5001 instead of 5000: the same rows go with the same history; "
        "batches are not visible"
    ),
    "tags.services.expiry.x_tags_expire__mutmut_9": _TRUTHY_DEFAULT,
    # tags/services/merge.py
    # tags/services/status_bulk.py
    "tags.services.status_bulk.x_customers_status_change_plan__mutmut_15": (
        "remove=[] left out: the model's default is an empty list, the same value"
    ),
    "tags.services.status_bulk.x_customers_status_change_plan__mutmut_25": _TRUTHY_DEFAULT,
    "tags.services.status_bulk.x_customers_status_change_plan__mutmut_31": (
        "getattr's default True: every actor given is None or has is_authenticated, and None "
        "gives None either way"
    ),
    "tags.services.status_bulk.x_customers_status_change_run__mutmut_5": (
        "select_related(None) instead of ('status'): the label's status is then read by a "
        "query of its own when needed, the same values"
    ),
    # tags/services/bulk.py
    "tags.services.bulk.x_change_set_run__mutmut_28": (
        "check_permissions=None instead of False: only its truth is tested, and both are false"
    ),
    "tags.services.bulk.x__batch_apply__mutmut_5": (
        "now=None is the current time, read a moment after the batch's own now: no expiry can "
        "be placed between the two"
    ),
    "tags.services.bulk.x__batch_apply__mutmut_12": _NEAR_LIMIT,
    "tags.services.bulk.x__batch_apply__mutmut_43": _NEAR_LIMIT,
    "tags.services.bulk.x_customers_retag_preview__mutmut_4": (
        "actor=None for the preview's resolve: on a dry run tags_resolve neither checks a "
        "permission nor creates a tag, so it never reads actor (the preview checks the creation "
        "itself, with the real actor)"
    ),
    "tags.services.bulk.x_customers_retag_preview__mutmut_23": (
        "now=None is the current time, read by each of the preview's two queries a moment after "
        "the call's own now: no expiry can be placed between them"
    ),
    "tags.services.bulk.x_change_set_plan__mutmut_39": _TRUTHY_DEFAULT,
    "tags.services.bulk.x_change_set_plan__mutmut_45": _ACTOR_DEFAULT_TRUE,
    "tags.services.bulk.x__run_batch__mutmut_14": (
        "dry_run=None instead of False: only its truth is tested, and both are false"
    ),
    # tags/services/change_sets.py
    "tags.services.change_sets.x_change_set_open__mutmut_23": _TRUTHY_DEFAULT,
    "tags.services.change_sets.x_change_set_open__mutmut_29": _ACTOR_DEFAULT_TRUE,
    "tags.services.change_sets.x__revert_open__mutmut_54": _TRUTHY_DEFAULT,
    "tags.services.change_sets.x__revert_open__mutmut_60": _ACTOR_DEFAULT_TRUE,
    "tags.services.change_sets.x_change_set_finish__mutmut_3": _CURRENT_ROW_SAVED,
    "tags.services.change_sets.x_change_set_cancel__mutmut_26": _CURRENT_ROW_SAVED,
    "tags.services.change_sets.x__revert_finish__mutmut_7": (
        "a full save of the original, read a moment before in the same transaction: a finished "
        "change-set is written by nothing else (a second revert is refused by the one-to-one "
        "reverts, a cancel by its state), so every other column is written back as it is"
    ),
    "tags.services.change_sets.x_change_set_fail__mutmut_6": (
        "every field refreshed instead of counts and cursor: the others hold what the caller's "
        "instance holds (a running run's row is written only by the run), and the state, error "
        "and end set next are saved by name"
    ),
    "tags.services.change_sets.x__revert_context__mutmut_46": (
        "the default start is used only for an original without history rows, of which no row "
        "is read whatever the start"
    ),
    "tags.services.change_sets.x__revert_context__mutmut_47": (
        "the walk starts one id earlier: the id just before the original's first row is not "
        "one of its rows (the first is their minimum), so the same rows are read"
    ),
    "tags.services.change_sets.x__revert_batch__mutmut_65": (
        "conflicts listed for a batch without conflicts too: every row of such a batch was "
        "undone, so _conflicts finds none (one query more); with 100 listed its limit is 0"
    ),
    "tags.services.change_sets.x__revert_batch__mutmut_66": (
        "asked for conflicts at exactly 100 listed too: the limit it passes is then 0, so "
        "nothing is added"
    ),
    "tags.services.change_sets.x_change_sets_stale__mutmut_8": _FIRST_FIELD,
    # tags/assignments.py
    "tags.assignments.xǁAssignmentWriterǁevents_for_tag_removal__mutmut_7": _CASE,
    "tags.assignments.xǁAssignmentWriterǁevents_for_tag_removal__mutmut_14": _CASE,
    "tags.assignments.xǁAssignmentWriterǁ_remove_where__mutmut_7": _CASE,
    "tags.assignments.xǁAssignmentWriterǁ_remove_where__mutmut_14": _CASE,
    "tags.assignments.xǁAssignmentWriterǁ_remove_where__mutmut_21": _CASE,
    "tags.assignments.xǁAssignmentWriterǁover_limit__mutmut_20": _CASE,
    "tags.assignments.xǁAssignmentWriterǁover_limit__mutmut_29": _CASE,
    "tags.assignments.xǁAssignmentWriterǁover_limit__mutmut_31": _CASE,
    "tags.assignments.xǁAssignmentWriterǁover_limit__mutmut_39": _CASE,
    "tags.assignments.xǁSqliteAssignmentWriterǁ_holding_more_than__mutmut_7": _CASE,
    "tags.assignments.xǁSqliteAssignmentWriterǁ_holding_more_than__mutmut_14": _CASE,
    "tags.assignments.xǁAssignmentWriterǁover_limit__mutmut_41": (
        "over = instead of over +=: the loop stops at the first batch that finds anyone, so "
        "over is still empty whenever it is assigned"
    ),
    "tags.assignments.xǁAssignmentWriterǁover_limit__mutmut_46": (
        "over[:6] instead of over[:5]: one batch's query has LIMIT 5 and the loop stops after "
        "it, so there are never more than five"
    ),
    "tags.services.names.x__tags_create_missing__mutmut_13": _TRUTHY_DEFAULT,
    "tags.services.names.x__tags_create_missing__mutmut_19": (
        "getattr's default True: every actor given is None or has is_authenticated, and None "
        "gives None either way"
    ),
    "statuses.services.x_statuses_ensure_defaults__mutmut_8": (
        "using(None) instead of using(using): with the one database this project runs on, "
        "both pick 'default'"
    ),
    "statuses.services.x_statuses_ensure_defaults__mutmut_16": (
        "using(None) instead of using(using): with the one database this project runs on, "
        "both pick 'default'"
    ),
    "tags.assignments.xǁSqliteAssignmentWriterǁ_delete__mutmut_14": _CASE,
    "tags.assignments.xǁSqliteAssignmentWriterǁ_delete__mutmut_15": _CASE,
    "tags.assignments.xǁSqliteAssignmentWriterǁ_delete__mutmut_12": (
        "RETURNING on every history INSERT, read or not: SQLite makes all of a statement's "
        "changes at its first step, so unread returned rows change nothing"
    ),
    "tags.services.tags.x__locked__mutmut_3": _NO_KEY_NONE,
    "tags.assignments.xǁAssignmentWriterǁ_add_sql__mutmut_7": _CASE,
    "tags.assignments.x__tags__mutmut_4": _STRICT,
    "tags.assignments.x__tags__mutmut_7": _STRICT,
    "tags.assignments.x__tags__mutmut_12": _STRICT,
    "tags.assignments.xǁAssignmentWriterǁ_add_sql__mutmut_14": _CASE,
    "tags.assignments.xǁAssignmentWriterǁchange__mutmut_9": _VALUES_DEFAULT,
    "tags.assignments.xǁAssignmentWriterǁchange__mutmut_10": _VALUES_DEFAULT,
    "tags.assignments.xǁSqliteAssignmentWriterǁ_change_batch__mutmut_3": (
        "the history ids collected even without events to write from them: a list unread"
    ),
    "tags.services.tagging.x_assignments_apply__mutmut_6": _TRUTHY_DEFAULT,
    "tags.assignments.xǁAssignmentWriterǁ_upsert__mutmut_12": _CASE,
    "tags.assignments.xǁAssignmentWriterǁ_upsert__mutmut_13": _CASE,
    "tags.assignments.xǁAssignmentWriterǁ_upsert__mutmut_15": _CASE,
    "tags.assignments.xǁAssignmentWriterǁ_upsert__mutmut_17": _CASE,
    "tags.assignments.xǁAssignmentWriterǁchange__mutmut_14": _VALUES_DEFAULT,
    "tags.assignments.xǁAssignmentWriterǁchange__mutmut_15": _VALUES_DEFAULT,
    "tags.assignments.xǁAssignmentWriterǁchange__mutmut_20": _BATCH_SIZE,
    "tags.assignments.xǁAssignmentWriterǁchange__mutmut_21": _BATCH_SIZE,
    "tags.assignments.xǁAssignmentWriterǁchange__mutmut_22": _BATCH_SIZE,
    "tags.assignments.xǁSqliteAssignmentWriterǁ_insert__mutmut_14": _CASE,
    "tags.assignments.xǁSqliteAssignmentWriterǁ_insert__mutmut_15": _CASE,
    "tags.assignments.xǁSqliteAssignmentWriterǁ_insert__mutmut_29": (
        "one parameter more kept in reserve (the statement has four besides the ids): chunks "
        "one id smaller, every one still within the limit; chunks are not visible"
    ),
    "tags.assignments.xǁSqliteAssignmentWriterǁ_insert__mutmut_12": (
        "RETURNING on every history INSERT, read or not: SQLite makes all of a statement's "
        "changes at its first step, so unread returned rows change nothing"
    ),
    "tags.services.names.x__names_check__mutmut_14": _DEFAULT_CODE,
    "tags.services.names.x__names_check__mutmut_17": _DEFAULT_CODE,
    "segments.rules.x__db__mutmut_3": _PREPARED,
    "segments.rules.x__db__mutmut_6": _PREPARED,
    "segments.rules.x__db__mutmut_8": _PREPARED,
    "tags.assignments.x__prep__mutmut_5": _PREPARED,
    "tags.assignments.x__prep__mutmut_8": _PREPARED,
    "tags.assignments.x__prep__mutmut_9": _PREPARED,
    "tags.assignments.xǁAssignmentWriterǁmove__mutmut_7": _CASE,
    "tags.assignments.xǁAssignmentWriterǁmove__mutmut_47": _CASE,
    "tags.assignments.xǁAssignmentWriterǁrecord_history__mutmut_49": _CASE,
    "tags.assignments.xǁAssignmentWriterǁrecord_history__mutmut_50": _CASE,
    "tags.assignments.xǁAssignmentWriterǁmove__mutmut_14": _CASE,
    "tags.assignments.xǁAssignmentWriterǁmove__mutmut_23": _CASE,
    "tags.assignments.xǁAssignmentWriterǁmove__mutmut_24": _CASE,
    # config/api/idempotency.py
    "config.api.idempotency.x__fingerprint__mutmut_7": _ASCII,
    "config.api.idempotency.x__fingerprint__mutmut_9": _ASCII,
    "config.api.idempotency.x__fingerprint__mutmut_10": _ASCII,
    "config.api.idempotency.x__fingerprint__mutmut_11": _ASCII,
    "config.api.idempotency.x__fingerprint__mutmut_12": _SEPARATOR,
    "config.api.idempotency.x__fingerprint__mutmut_20": _SEPARATOR,
    "config.api.idempotency.x__fingerprint__mutmut_21": _SEPARATOR,
    "config.api.idempotency.x__fingerprint__mutmut_22": _SEPARATOR,
    "config.api.idempotency.x_finish__mutmut_4": _RENDERED,
    "config.api.idempotency.x_finish__mutmut_14": _RENDERED,
    "config.api.idempotency.x_finish__mutmut_17": _RENDERED,
    "config.api.idempotency.x_finish__mutmut_20": _RENDERED,
    "config.api.idempotency.x_finish__mutmut_31": _CONTENT_TYPE,
    "config.api.idempotency.x_finish__mutmut_33": _CONTENT_TYPE,
    "config.api.idempotency.x_finish__mutmut_35": "response headers are case-insensitive",
    "config.api.idempotency.x_finish__mutmut_36": "response headers are case-insensitive",
    "config.api.idempotency.x_finish__mutmut_37": _CONTENT_TYPE,
    # config/api/authentication.py
    "config.api.authentication.xǁThrottledBasicAuthenticationǁauthenticate_credentials__mutmut_8": (
        "the request handed to Django's authenticate(): the one backend (config.auth.ModelBackend) "
        "does not read it; the lockout reads the request this method holds itself"
    ),
    "config.api.authentication.xǁThrottledBasicAuthenticationǁauthenticate_credentials__mutmut_11": (
        "DRF's request parameter defaults to None: the same as passing None (mutant 8)"
    ),
    # customers/services.py
    "customers.services.x_customer_update__mutmut_6": _NO_KEY_NONE,
    "customers.services.x_customer_delete__mutmut_6": _NO_KEY_NONE,
    "customers.services.x_customer_create__mutmut_12": _FORCE_INSERT,
    "customers.services.x_customer_update__mutmut_14": (
        "changed starts as None instead of False: only its truth is tested, and both are false"
    ),
    "tags.services.tags.x__check_unique__mutmut_43": (
        "reference_id is checked only when an update changes it (or on create, with no row of "
        "its own yet), so the tag's own row never holds the value looked for: excluding it or "
        "not finds the same rows"
    ),
    # config/api/permissions.py
    "config.api.permissions.xǁModelPermissionsǁhas_permission__mutmut_1": (
        "an anonymous user (a truthy AnonymousUser) then goes on to the permission checks, "
        "which refuse it too: it holds no permission, and no action is open to everyone"
    ),
    "config.api.permissions.xǁModelPermissionsǁhas_permission__mutmut_8": _VIEW_ATTRIBUTE,
    "config.api.permissions.xǁModelPermissionsǁhas_permission__mutmut_11": _VIEW_ATTRIBUTE,
    "config.api.permissions.xǁModelPermissionsǁhas_permission__mutmut_19": _VIEW_ATTRIBUTE,
    # config/api/authentication.py
    "config.api.authentication.xǁApiTokenAuthenticationǁ_authenticate__mutmut_12": (
        "codec names are case-insensitive: 'ASCII' is 'ascii'"
    ),
    # segments/rules.py
    "segments.rules.x_rule_q__mutmut_4": (
        "a rule naming no tag then asks which of no tags are alive: the empty set either way"
    ),
    "segments.rules.x_rule_q__mutmut_8": _FIRST_FIELD,
    "segments.rules.x_rule_count__mutmut_10": _FIRST_FIELD,
    "segments.rules.x_rule_count__mutmut_1": _OTHER_COUNT,
    "segments.rules.x_rule_count__mutmut_2": _OTHER_COUNT,
    "segments.rules.x_rule_count__mutmut_52": _CASE,
    "segments.rules.x_rule_count__mutmut_57": _CASE,
    "segments.rules.x_rule_count__mutmut_60": _CASE,
    "segments.rules.x_rule_count__mutmut_61": _CASE,
    "segments.rules.x_rule_count__mutmut_99": _CASE,
    "segments.rules.x_rule_count__mutmut_100": (
        "with no condition the text is glued to the subquery's alias (m becomes mXXXX), which "
        "nothing else names: the same count"
    ),
    # statuses/services.py
    "statuses.services.x_status_delete__mutmut_6": _NO_KEY_NONE,
    "statuses.services.x_label_delete__mutmut_6": _NO_KEY_NONE,
    # found alive after the whole run, each checked against its diff
    "tags.services.names.x_tags_resolve__mutmut_98": (
        "the name_key of a dry run's stand-in for a tag to create: nothing reads it (the "
        "resolved tags are keyed by the names' own keys, and a stand-in is never saved)"
    ),
    "tags.services.names.x_tags_resolve__mutmut_101": (
        "the name_key of a dry run's stand-in for a tag to create: nothing reads it (the "
        "resolved tags are keyed by the names' own keys, and a stand-in is never saved)"
    ),
    "tags.assignments.xǁAssignmentWriterǁtags_changed_insert__mutmut_6": (
        "one_per_customer None instead of passed on: the flag only picks an ungrouped shortcut "
        "(PostgreSQL; SQLite's select ignores it); the grouped form writes the same events "
        "(run on PostgreSQL too: survives there)"
    ),
    "tags.assignments.xǁAssignmentWriterǁevents_from_history__mutmut_2": (
        "the count returned when there are no history rows: every caller (a revert, a merge, "
        "expiry, a retag batch) discards it"
    ),
    "config.api.idempotency.x_begin__mutmut_45": (
        "the expired row deleted by its primary key alone: a key claimed again is a new row "
        "with a new id, so the id never names anything but the row read"
    ),
    "config.api.idempotency.x_begin__mutmut_58": (
        "the stored body is never empty: only POSTs are kept, and every answer to a POST has a "
        "body (the same fact as the Content-Type's default), so the default is never used"
    ),
    "tags.assignments.xǁAssignmentWriterǁevents_from_history__mutmut_9": _CASE,
    "tags.assignments.xǁAssignmentWriterǁrevert__mutmut_10": _CASE,
    "tags.assignments.xǁAssignmentWriterǁrevert__mutmut_24": _CASE,
    "tags.assignments.xǁAssignmentWriterǁrevert__mutmut_25": _CASE,
    "tags.assignments.xǁAssignmentWriterǁrevert__mutmut_43": _CASE,
    "tags.assignments.xǁAssignmentWriterǁrevert__mutmut_44": _CASE,
    "tags.assignments.xǁSqliteAssignmentWriterǁ_tags_changed_select__mutmut_4": _CASE,
    "tags.assignments.xǁSqliteAssignmentWriterǁ_tags_changed_select__mutmut_7": _CASE,
    "tags.assignments.xǁSqliteAssignmentWriterǁ_tags_changed_select__mutmut_14": _CASE,
    "tags.assignments.xǁSqliteAssignmentWriterǁ_tags_changed_select__mutmut_19": _CASE,
    "tags.assignments.xǁSqliteAssignmentWriterǁ_tags_changed_select__mutmut_20": _CASE,
    "tags.assignments.xǁSqliteAssignmentWriterǁ_tags_changed_select__mutmut_22": _CASE,
    "tags.assignments.xǁSqliteAssignmentWriterǁ_tags_changed_select__mutmut_25": _CASE,
    "tags.assignments.xǁSqliteAssignmentWriterǁ_tags_changed_select__mutmut_26": _CASE,
    "tags.assignments.xǁSqliteAssignmentWriterǁ_tags_changed_select__mutmut_28": _CASE,
    "tags.assignments.xǁSqliteAssignmentWriterǁ_tags_changed_select__mutmut_29": _CASE,
    "tags.assignments.xǁSqliteAssignmentWriterǁ_tags_changed_select__mutmut_31": _CASE,
    "tags.assignments.xǁSqliteAssignmentWriterǁ_tags_changed_select__mutmut_34": _CASE,
    "customers.services.x_customer_status_change__mutmut_86": _TRUTHY_DEFAULT,
    "customers.services.x_customer_status_change__mutmut_92": _ACTOR_DEFAULT_TRUE,
    "customers.services.x_customer_status_change__mutmut_100": _CURRENT_ROW_SAVED,
    "tags.assignments.xǁStampǁhistory__mutmut_4": _PREPARED,
    "tags.assignments.xǁStampǁhistory__mutmut_7": _PREPARED,
    "tags.assignments.xǁStampǁhistory__mutmut_11": _PREPARED,
    "tags.assignments.xǁAssignmentWriterǁbatches__mutmut_7": (
        "a batch of at least two items instead of one: the floor decides only when fewer than two "
        "items fit the parameter limit, and with every reserve used here thousands fit"
    ),
    "tags.services.merge.x_tags_merge__mutmut_43": _TRUTHY_DEFAULT,
    "tags.services.merge.x_tags_merge__mutmut_142": _CURRENT_ROW_SAVED,
    "tags.services.tags.x_tag_create__mutmut_19": _FORCE_INSERT,
    # tags/assignments.py, PostgresAssignmentWriter: from the PostgreSQL pass (README, Testing)
    "tags.assignments.xǁPostgresAssignmentWriterǁ_with_history__mutmut_3": (
        "the history ids aggregated even when nobody asked for them: an extra column unread"
    ),
    "tags.assignments.xǁPostgresAssignmentWriterǁ_with_history__mutmut_4": _ALIAS,
    "tags.assignments.xǁPostgresAssignmentWriterǁ_with_history__mutmut_5": _CASE,
    "tags.assignments.xǁPostgresAssignmentWriterǁ_with_history__mutmut_7": _ALIAS,
    "tags.assignments.xǁPostgresAssignmentWriterǁ_with_history__mutmut_19": _CASE,
    "tags.assignments.xǁPostgresAssignmentWriterǁ_with_history__mutmut_21": _CASE,
    "tags.assignments.xǁPostgresAssignmentWriterǁ_with_history__mutmut_23": _CASE,
    "tags.assignments.xǁPostgresAssignmentWriterǁ_with_history__mutmut_24": _CASE,
    "tags.assignments.xǁPostgresAssignmentWriterǁ_change_batch__mutmut_13": _FIRST_BRANCH,
    "tags.assignments.xǁPostgresAssignmentWriterǁ_change_batch__mutmut_21": _CASE,
    "tags.assignments.xǁPostgresAssignmentWriterǁ_change_batch__mutmut_23": _CASE,
    "tags.assignments.xǁPostgresAssignmentWriterǁ_change_batch__mutmut_24": _FIRST_BRANCH,
    "tags.assignments.xǁPostgresAssignmentWriterǁ_change_batch__mutmut_29": _CASE,
    "tags.assignments.xǁPostgresAssignmentWriterǁ_change_batch__mutmut_30": _CASE,
    "tags.assignments.xǁPostgresAssignmentWriterǁ_change_batch__mutmut_48": _CASE,
    "tags.assignments.xǁPostgresAssignmentWriterǁ_change_batch__mutmut_50": _CASE,
    "tags.assignments.xǁPostgresAssignmentWriterǁ_change_batch__mutmut_56": _CASE,
    "tags.assignments.xǁPostgresAssignmentWriterǁ_change_batch__mutmut_57": _CASE,
    "tags.assignments.xǁPostgresAssignmentWriterǁ_change_batch__mutmut_64": (
        "one_per_customer None instead of computed: the flag only picks an ungrouped shortcut; "
        "the grouped form writes the same events"
    ),
    "tags.assignments.xǁPostgresAssignmentWriterǁ_change_batch__mutmut_68": (
        "one_per_customer left out: the default is False, the grouped form, which writes the "
        "same events"
    ),
    "tags.assignments.xǁPostgresAssignmentWriterǁ_change_batch__mutmut_71": _CASE,
    "tags.assignments.xǁPostgresAssignmentWriterǁ_change_batch__mutmut_86": _CASE,
    "tags.assignments.xǁPostgresAssignmentWriterǁ_tags_changed_select__mutmut_5": _CASE,
    "tags.assignments.xǁPostgresAssignmentWriterǁ_tags_changed_select__mutmut_6": _CASE,
    "tags.assignments.xǁPostgresAssignmentWriterǁ_tags_changed_select__mutmut_9": _CASE,
    "tags.assignments.xǁPostgresAssignmentWriterǁ_tags_changed_select__mutmut_11": _CASE,
    "tags.assignments.xǁPostgresAssignmentWriterǁ_tags_changed_select__mutmut_12": _CASE,
    "tags.assignments.xǁPostgresAssignmentWriterǁ_tags_changed_select__mutmut_15": _CASE,
    "tags.assignments.xǁPostgresAssignmentWriterǁ_tags_changed_select__mutmut_18": _CASE,
    "tags.assignments.xǁPostgresAssignmentWriterǁ_tags_changed_select__mutmut_23": _CASE,
    "tags.assignments.xǁPostgresAssignmentWriterǁ_tags_changed_select__mutmut_26": _CASE,
    "tags.assignments.xǁPostgresAssignmentWriterǁ_tags_changed_select__mutmut_27": _CASE,
    "tags.assignments.xǁPostgresAssignmentWriterǁ_tags_changed_select__mutmut_36": _CASE,
    "tags.assignments.xǁPostgresAssignmentWriterǁ_tags_changed_select__mutmut_37": _CASE,
    "tags.assignments.xǁPostgresAssignmentWriterǁ_tags_changed_select__mutmut_39": _CASE,
    "tags.assignments.xǁPostgresAssignmentWriterǁ_tags_changed_select__mutmut_42": _CASE,
    "tags.assignments.xǁPostgresAssignmentWriterǁ_tags_changed_select__mutmut_45": _CASE,
    "tags.assignments.xǁPostgresAssignmentWriterǁ_tags_changed_select__mutmut_48": _CASE,
    "tags.assignments.xǁPostgresAssignmentWriterǁ_tags_changed_select__mutmut_49": _CASE,
    "tags.assignments.xǁPostgresAssignmentWriterǁ_tags_changed_select__mutmut_51": _CASE,
    "tags.assignments.xǁPostgresAssignmentWriterǁ_tags_changed_select__mutmut_54": _CASE,
    "tags.assignments.xǁPostgresAssignmentWriterǁ_tags_changed_select__mutmut_57": _CASE,
    "tags.assignments.xǁPostgresAssignmentWriterǁ_holding_more_than__mutmut_6": _CASE,
    "tags.assignments.xǁPostgresAssignmentWriterǁlock_customers__mutmut_12": _CASE,
    "tags.assignments.xǁPostgresAssignmentWriterǁlock_customers__mutmut_13": _CASE,
}


_ROW_LOCK = (
    "the strength of a row lock: select_for_update is a no-op on SQLite, where `make mutation` "
    "runs (one writer at a time); on PostgreSQL FOR UPDATE waits for writers holding FOR KEY "
    "SHARE on the row, FOR NO KEY UPDATE does not (for status and label deletes "
    "tests/statuses/test_delete_locks.py shows the difference)"
)

_NEAR_LIMIT_SQLITE = (
    "what reaches near_limit: SQLite's writer answers None whatever it is given (it counts "
    "every customer after the write); the PostgreSQL writer's near_limit is in the PostgreSQL "
    "pass"
)

# name → why SQLite cannot show the difference (where PostgreSQL does, the test that does)
SQLITE_BLIND: dict[str, str] = {
    "customers.services.x_customer_status_change__mutmut_9": _ROW_LOCK,
    "customers.services.x_customer_status_change__mutmut_10": _ROW_LOCK,
    "tags.assignments.x_customers_near_limit__mutmut_2": _NEAR_LIMIT_SQLITE,
    "tags.assignments.x_customers_near_limit__mutmut_3": _NEAR_LIMIT_SQLITE,
    "tags.assignments.x_customers_near_limit__mutmut_4": _NEAR_LIMIT_SQLITE,
    "tags.services.bulk.x__batch_apply__mutmut_14": _NEAR_LIMIT_SQLITE,
    "tags.services.bulk.x__batch_apply__mutmut_15": _NEAR_LIMIT_SQLITE,
    "tags.assignments.x_customers_lock__mutmut_2": (
        "SQLite's lock_customers does nothing (its one write lock serialises writers); the "
        "PostgreSQL lock is tested by test_lock_customers_holds_their_rows_until_the_transaction_ends"
    ),
    "tags.assignments.xǁAssignmentWriterǁchange__mutmut_3": (
        "a change naming no tag goes on into its batches: SQLite's batch then runs nothing; "
        "PostgreSQL's would send an empty WITH, which "
        "test_a_change_naming_no_tag_runs_no_statement catches there"
    ),
    "tags.services.tags.x__locked__mutmut_6": _ROW_LOCK,
    "tags.services.tags.x__locked__mutmut_7": _ROW_LOCK,
    "customers.services.x_customer_update__mutmut_10": _ROW_LOCK,
    "customers.services.x_customer_update__mutmut_11": _ROW_LOCK,
    "customers.services.x_customer_delete__mutmut_10": _ROW_LOCK,
    "customers.services.x_customer_delete__mutmut_11": _ROW_LOCK,
    "statuses.services.x_label_delete__mutmut_10": _ROW_LOCK,
    "statuses.services.x_label_delete__mutmut_11": _ROW_LOCK,
    "statuses.services.x_status_delete__mutmut_10": _ROW_LOCK,
    "statuses.services.x_status_delete__mutmut_11": _ROW_LOCK,
}
JUSTIFIED = {**EQUIVALENT, **SQLITE_BLIND}


def _statuses(results: Path) -> dict[str, dict[str, str]]:
    """module → mutant name → status, from one run's ``mutants`` directory."""
    found = {}
    for meta in sorted(results.rglob("*.py.meta")):
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        module = str(meta.relative_to(results)).removesuffix(".meta")
        found[module] = {name: status_by_exit_code[code] for name, code in codes.items()}
    return found


def main(argv: list[str]) -> int:
    runs = [_statuses(ROOT / "mutants"), *(_statuses(Path(d)) for d in argv)]
    if not runs[0]:
        print("no mutmut results under mutants/: run `make mutation`", file=sys.stderr)
        return 2
    print(
        f"{'module':34} {'mutants':>7} {'killed':>6} {'timeout':>7} {'survived':>8} "
        f"{'no tests':>8} {'justif.':>7} {'not run':>7} {'score':>6}"
    )
    scored_total = caught_total = 0
    alive: list[str] = []
    stale: list[str] = []  # EQUIVALENT entries whose mutant a test kills: to be removed
    for module, names in runs[0].items():
        if not names:
            continue  # a package's __init__ that only re-exports
        counts = dict.fromkeys(
            ("killed", "timeout", "survived", "no tests", "equivalent", "not checked"), 0
        )
        for name, status in names.items():
            caught_anywhere = any(run.get(module, {}).get(name) in CAUGHT for run in runs)
            if name in JUSTIFIED and not caught_anywhere:
                counts["equivalent"] += 1
                continue
            if name in EQUIVALENT:
                # the code moved and the name now belongs to another mutant, which a test kills
                stale.append(name)
            if status not in CAUGHT:
                # another run (on PostgreSQL, or of some modules alone) may have caught what
                # this one could not, or reached what this one did not
                later = [run.get(module, {}).get(name) for run in runs[1:]]
                status = next((s for s in later if s in CAUGHT), status)
                if status == "not checked":
                    status = next((s for s in later if s and s != "not checked"), status)
            key = status if status in counts else "killed" if status in CAUGHT else "survived"
            counts[key] += 1
            if status not in CAUGHT and status != "not checked":
                alive.append(f"{name}: {status}")
        caught = counts["killed"]
        # the score of the mutants run so far (an interrupted run leaves some not checked)
        scored = len(names) - counts["equivalent"] - counts["not checked"]
        scored_total += scored
        caught_total += caught
        score = f"{100 * caught / scored:5.1f}%" if scored else "     —"
        print(
            f"{module:34} {len(names):7} {counts['killed']:6} {counts['timeout']:7} "
            f"{counts['survived']:8} {counts['no tests']:8} {counts['equivalent']:7} "
            f"{counts['not checked']:7} {score}"
        )
    print(
        f"{'all':34} {'':7} {'':6} {'':7} {'':8} {'':8} {'':7} {100 * caught_total / scored_total:5.1f}%"
    )
    print(
        f"left out, each justified in {Path(__file__).name}: {len(EQUIVALENT)} equivalent "
        f"mutants, {len(SQLITE_BLIND)} that SQLite cannot tell apart (PostgreSQL row locks)"
    )
    if alive:
        print("\nstill alive:\n  " + "\n  ".join(alive))
    if stale:
        print(
            "\nlisted as equivalent but killed (stale entries: the code moved; remove them):\n  "
            + "\n  ".join(stale)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
