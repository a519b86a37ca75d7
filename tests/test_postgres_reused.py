"""The SQLite store's own tests, run again on the PostgreSQL backend: test functions imported from
tests/test_delivery.py, tests/test_story_bands.py, tests/test_evidence_parts.py (captures, claims,
rechecks, export selections) and tests/test_web_search.py (the web's listing), with this module's
`store` fixture (a PostgresStore on a fresh database of the session's real server) in place of
conftest's SQLite one.
The bodies are the same code; only what they are given differs. Left out: the tests that read
SQLite directly (store.db, sqlite3 errors, EXPLAIN QUERY PLAN) or open the SQLite file by path."""

from __future__ import annotations

from tests.support.postgres import pg_url, postgres_server, postgres_store  # noqa: F401  (fixtures)
from tests.test_delivery import (  # noqa: F401  (collected here, on PostgreSQL)
    test_a_channel_bug_fails_that_batch_only,
    test_a_channel_removed_from_the_configuration_keeps_its_batch_waiting,
    test_a_failing_part_resumes_where_it_stopped,
    test_a_retry_renders_the_copies_known_when_the_batch_was_built,
    test_a_source_recovering_between_retries_moves_no_story_between_parts,
    test_alerts_send_one_message_per_new_story_immediately,
    test_an_undelivered_story_waits_and_is_never_dropped_or_repeated,
    test_apprise_answering_500_twice_then_200_gets_the_digest_exactly_once,
    test_apprise_receiver_down_at_digest_time_gets_it_once_up,
    test_digest_by_email_from_stored_stories,
    test_file_digest_footer_lists_sources_failing_for_more_than_a_day,
    test_preview_claims_nothing,
    test_receiver_down_at_digest_time_gets_it_at_the_next_attempt_once_up,
    test_send_empty_sends_an_empty_digest_only_when_asked,
    test_stories_stored_but_not_alerted_before_a_kill_are_alerted_at_the_next_start,
    test_tag_and_topic_filters_choose_the_stories,
    test_two_digests_in_a_row_repeat_nothing_and_the_second_has_what_was_found_between,
    test_webhook_answering_500_twice_then_200_gets_the_digest_exactly_once,
)
from tests.test_evidence_parts import (  # noqa: F401  (collected here, on PostgreSQL)
    test_a_blocked_address_is_a_failed_capture_not_retried,
    test_a_gzip_response_is_stored_decoded_with_headers_that_say_so,
    test_a_recheck_that_cannot_reach_the_page_changes_nothing_and_is_tried_again,
    test_a_response_without_a_length_is_stored_with_the_length_of_its_body,
    test_export_selects_by_source_topic_and_time_and_neutralises_formulas,
    test_two_captures_of_one_item_never_run_at_once,
)
from tests.test_story_bands import test_copies_within_one_poll_join_each_other_over_the_store  # noqa: F401
from tests.test_web_search import test_listing_filters_labels_and_cursors  # noqa: F401


