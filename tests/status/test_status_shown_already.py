"""Telling that a status needs no write without rendering it.

``shows_already`` says a status already shows an update only when rendering the update
gives that very status back, whatever the status holds (conditions in any order, missing,
malformed or repeated, other generations, fields set or not, 0.1's numeric revision) and
whatever the update says; and it does say so for the status a render of that update left,
which is every resync of a release in sync.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from controller.status import (
    CHART_FETCHED,
    DEPLOYED,
    DRIFTED,
    RECONCILING,
    RELEASED,
    STALLED,
    Condition,
    StatusUpdate,
    render_status,
    shows_already,
)

T0, T1 = "2026-11-23T10:00:00Z", "2026-11-23T11:00:00Z"
KINDS = st.sampled_from([CHART_FETCHED, DEPLOYED, RECONCILING, RELEASED, STALLED, DRIFTED, "Other"])
TEXT = st.sampled_from(["m", "other", "two  spaces", " padded ", "line\nbreak", ""])
CONDITIONS = st.builds(
    Condition,
    KINDS,
    st.sampled_from(["True", "False", "Unknown"]),
    st.sampled_from(["R", "S"]),
    TEXT,
)
UPDATES = st.builds(
    StatusUpdate,
    phase=st.none() | st.sampled_from(["Succeeded", "Failed"]),
    conditions=st.lists(CONDITIONS, max_size=6, unique_by=lambda c: c.type).map(tuple),
    fields=st.dictionaries(
        st.sampled_from(["revision", "releaseName", "lastReleaseRevision"]),
        st.none() | st.sampled_from(["1.0.0", "web"]) | st.integers(1, 3),
        max_size=3,
    ).filter(lambda fields: not isinstance(fields.get("revision"), int)),  # 0.1's, not ours
    dropped=st.lists(KINDS, max_size=2).map(tuple),
).filter(lambda update: not {c.type for c in update.conditions} & set(update.dropped))
"""Updates as reports make them: a condition is set or dropped, never both."""
GENERATIONS = st.integers(1, 3)


def mutated(status: dict[str, Any], data: st.DataObject) -> Any:
    """``status`` perhaps changed in one of the ways a status may differ."""
    change = data.draw(
        st.sampled_from(["none", "reverse", "drop", "junk", "repeat", "extra", "time", "revision"])
    )
    conditions = list(status.get("conditions", []))
    if change == "reverse":
        conditions.reverse()
    elif change == "drop" and conditions:
        conditions.pop(data.draw(st.integers(0, len(conditions) - 1)))
    elif change == "junk":
        conditions.append("junk")
    elif change == "repeat" and conditions:
        conditions.append(dict(conditions[0]))
    elif change == "extra" and conditions:
        conditions[0] = {**conditions[0], "extra": 1}
    elif change == "time" and conditions:
        conditions[0] = {**conditions[0], "lastUpdateTime": ""}
    elif change == "revision":
        return {**status, "revision": 7, "conditions": conditions}
    return {**status, "conditions": conditions}


@given(UPDATES, UPDATES, GENERATIONS, GENERATIONS, st.data())
def test_shown_already_only_when_rendering_changes_nothing(
    first: StatusUpdate,
    second: StatusUpdate,
    written_at: int,
    generation: int,
    data: st.DataObject,
) -> None:
    old = mutated(render_status({}, first, generation=written_at, now=T0), data)
    if shows_already(old, second, generation):
        assert render_status(old, second, generation=generation, now=T1) == old


@given(UPDATES, UPDATES, GENERATIONS)
def test_a_status_rendered_from_an_update_shows_it(
    first: StatusUpdate, update: StatusUpdate, generation: int
) -> None:
    before = render_status({}, first, generation=generation, now=T0)
    rendered = render_status(before, update, generation=generation, now=T0)
    assert shows_already(rendered, update, generation)


def test_a_status_that_is_no_mapping_is_rendered() -> None:
    assert not shows_already(["not", "a", "status"], StatusUpdate(), 1)
