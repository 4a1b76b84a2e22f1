"""The work queue's two lanes, driven synchronously with a fake clock.

Covers: which lane a key waits in (intent ahead of bulk, FIFO within a lane; an intent
add moves a key out of bulk, a bulk add never moves one out of intent; a key never
waits in both), the share (while both lanes have ready keys, bulk gets one of every
``intent_share`` + 1 picks, also when intent keys arrive one at a time; a lane alone is
served whatever the share), keys added while processing (they come back in the most
urgent lane they were added to; ``add_again`` keeps the lane a key was taken from),
delayed and rate-limited adds (bulk, earliest due time kept), ``intent_share`` 0 (one
FIFO lane: today's order; set by ``--intent-share``, never negative), and the wait
metric by lane (a moved key counts from the move).
"""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from controller import metrics
from controller.__main__ import UsageError, build_settings, parse_args
from controller.queue import Lane, WorkQueue
from controller.settings import QueueSettings
from testkit import FakeClock

INTENT, BULK = Lane.INTENT, Lane.BULK


def make_queue(share: int = 4, clock: FakeClock | None = None) -> WorkQueue[str]:
    settings = QueueSettings(retry_initial=1.0, retry_max=8.0, intent_share=share)
    return WorkQueue(settings, clock=clock or FakeClock())


def take_all(queue: WorkQueue[str]) -> list[str]:
    """Every ready key in the order the queue hands them out, each done at once."""
    taken = []
    while (key := queue.try_get()) is not None:
        taken.append(key)
        queue.done(key)
    return taken


@pytest.mark.parametrize(
    ("adds", "expected"),
    [
        pytest.param([("b", BULK), ("i", INTENT)], ["i", "b"], id="intent ahead of bulk"),
        pytest.param(
            [("b1", BULK), ("i1", INTENT), ("b2", BULK), ("i2", INTENT)],
            ["i1", "i2", "b1", "b2"],
            id="fifo within each lane",
        ),
        pytest.param(
            [("k", BULK), ("x", BULK), ("k", INTENT)], ["k", "x"], id="an intent add moves a key"
        ),
        pytest.param(
            [("k", INTENT), ("j", INTENT), ("k", BULK)],
            ["k", "j"],
            id="a bulk add leaves an intent key where it is",
        ),
        pytest.param(
            [("k", INTENT), ("j", INTENT), ("k", INTENT)],
            ["k", "j"],
            id="an intent add of an intent key keeps its place",
        ),
        pytest.param(
            [("k", BULK), ("j", BULK), ("k", BULK)], ["k", "j"], id="bulk dedup keeps its place"
        ),
    ],
)
def test_which_lane_a_key_waits_in(adds: list[tuple[str, Lane]], expected: list[str]) -> None:
    queue = make_queue()
    for key, lane in adds:
        queue.add(key, lane)
    assert queue.waiting(INTENT) + queue.waiting(BULK) == len(queue) == len(expected)
    assert take_all(queue) == expected


@pytest.mark.parametrize(
    ("share", "expected"),
    [
        (1, "IBIBIBIBIBIB"),
        (2, "IIBIIBIIBBBB"),
        (4, "IIIIBIIBBBBB"),
        (9, "IIIIIIBBBBBB"),
    ],
)
def test_bulk_gets_one_of_every_share_plus_one_picks(share: int, expected: str) -> None:
    queue = make_queue(share)
    for n in range(6):
        queue.add(f"B{n}")
        queue.add(f"I{n}", INTENT)
    taken = take_all(queue)
    assert "".join(key[0] for key in taken) == expected
    assert [k for k in taken if k[0] == "I"] == [f"I{n}" for n in range(6)]
    assert [k for k in taken if k[0] == "B"] == [f"B{n}" for n in range(6)]


@pytest.mark.parametrize("lane", list(Lane))
def test_a_lane_alone_is_served_whatever_the_share(lane: Lane) -> None:
    queue = make_queue(share=1)
    for key in "abc":
        queue.add(key, lane)
    assert take_all(queue) == ["a", "b", "c"]


def test_intent_keys_arriving_one_at_a_time_do_not_starve_bulk() -> None:
    queue = make_queue(share=2)
    for n in range(10):
        queue.add(f"B{n}")
    lanes = ""
    for n in range(9):
        queue.add(f"I{n}", INTENT)  # one new edit before every pick
        key = queue.try_get()
        assert key is not None
        queue.done(key)
        lanes += key[0]
    assert lanes == "IIBIIBIIB"


@pytest.mark.parametrize(
    ("while_processing", "lane"),
    [
        ([BULK], BULK),
        ([INTENT], INTENT),
        ([BULK, INTENT], INTENT),
        ([INTENT, BULK], INTENT),
    ],
)
def test_a_key_added_while_processing_comes_back_in_its_most_urgent_lane(
    while_processing: list[Lane], lane: Lane
) -> None:
    queue = make_queue()
    queue.add("k")
    assert queue.try_get() == "k"
    for added in while_processing:
        queue.add("k", added)
    assert len(queue) == 0  # not while processing
    queue.done("k")
    assert queue.waiting(lane) == 1
    assert len(queue) == 1


@pytest.mark.parametrize("lane", list(Lane))
def test_add_again_puts_a_key_back_in_the_lane_it_was_taken_from(lane: Lane) -> None:
    queue = make_queue()
    queue.add("k", lane)
    assert queue.try_get() == "k"
    queue.add_again("k")
    queue.done("k")
    assert queue.waiting(lane) == 1
    assert take_all(queue) == ["k"]


def test_delayed_and_rate_limited_adds_are_bulk_and_keep_their_earliest_due_time() -> None:
    clock = FakeClock()
    queue = make_queue(clock=clock)
    queue.add_after("late", 5.0)
    queue.add_after("late", 50.0)  # later: does not postpone
    queue.add_rate_limited("failed")  # backoff 1 s
    clock.advance(5.0)
    queue.add("edited", INTENT)
    assert take_all(queue) == ["edited", "failed", "late"]


def test_an_intent_add_of_a_delayed_key_does_not_wait_for_its_due_time() -> None:
    clock = FakeClock()
    queue = make_queue(clock=clock)
    queue.add_after("k", 60.0)
    queue.add("k", INTENT)
    assert take_all(queue) == ["k"]
    assert queue.delayed == 1  # the resync stays pending, as a plain add leaves it
    clock.advance(60.0)
    assert take_all(queue) == ["k"]


def test_share_zero_is_one_fifo_lane() -> None:
    queue = make_queue(share=0)
    for key, lane in [("b1", BULK), ("i1", INTENT), ("b2", BULK), ("i2", INTENT), ("b1", INTENT)]:
        queue.add(key, lane)
    assert queue.waiting(INTENT) == 0
    assert take_all(queue) == ["b1", "i1", "b2", "i2"]


def wait_sum(lane: str) -> float:
    value = REGISTRY.get_sample_value("helmrelease_queue_wait_seconds_sum", {"lane": lane})
    return value or 0.0


def test_the_wait_is_measured_per_lane_and_a_moved_key_counts_from_the_move() -> None:
    clock = FakeClock()
    queue = make_queue(clock=clock)
    intent_before, bulk_before = wait_sum("intent"), wait_sum("bulk")
    queue.add("moved")
    queue.add("stays")
    clock.advance(5.0)
    queue.add("moved", INTENT)
    clock.advance(1.0)
    assert take_all(queue) == ["moved", "stays"]
    assert wait_sum("intent") - intent_before == pytest.approx(1.0)
    assert wait_sum("bulk") - bulk_before == pytest.approx(6.0)


def test_the_metric_knows_every_lane() -> None:
    assert {lane.value for lane in Lane} == set(metrics.QUEUE_LANES)


def test_shutdown_hands_out_both_lanes_then_nothing() -> None:
    queue = make_queue()
    queue.add("b")
    queue.add("i", INTENT)
    queue.shutdown()
    queue.add("late", INTENT)
    assert take_all(queue) == ["i", "b"]


def test_the_share_is_a_flag_and_a_variable_and_never_negative() -> None:
    def share(argv: list[str], environ: dict[str, str]) -> int:
        return build_settings(parse_args(["run", *argv]), environ).queue.intent_share

    environ = {"HELMRELEASE_INTENT_SHARE": "0"}
    assert share([], {}) == 4
    assert share([], environ) == 0
    assert share(["--intent-share", "9"], environ) == 9
    with pytest.raises(UsageError, match="--intent-share"):
        share(["--intent-share", "-1"], {})
