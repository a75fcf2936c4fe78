"""What each step must record: required fields, vocabularies, dates, and arbitrary input.

Validation is pure (no database), so these tests run the one validator that forms and the
API share, with a fixed clock and the deployment's time zone.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from complaints import vocab
from complaints.evidence import (
    ANSWER_FIELD,
    INTAKE_FIELDS,
    STEP_FIELDS,
    Context,
    EvidenceError,
    StepInput,
    validate_intake,
    validate_reason,
    validate_step,
)
from complaints.workflow import CUSTOMER_STEPS, STEPS

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 23, 8, 0)  # naive UTC: 16:00 in Shanghai
CTX = Context(now=NOW, tz=TZ)
TODAY = CTX.today  # 2026-11-23 in Shanghai
REQUIRED = "This field is required."
ASK = "Record the customer's answer, or send it on the customer link."
CHOOSE = "Choose one of the listed values."
NOT_ALLOWED = "Contains characters that are not allowed."
UNKNOWN = "Unknown field."

GOOD: dict[str, dict[str, Any]] = {
    "apologise": {"method": "phone", "apology": "非常抱歉给您带来不便。"},
    "listen": {"account": "开机键无反应,充电灯不亮。", "expectation": "换新机", "temperament": "angry"},
    "confirm": {
        "restatement": "电脑无法开机,您希望换新机。",
        "customer_response": "confirmed",
        "via": "phone",
    },
    "analyse": {"root_cause_category": "product", "root_cause": "主板电源模块虚焊"},
    "agree": {
        "remedy": "exchange",
        "remedy_detail": "更换新机",
        "due_date": (TODAY + timedelta(days=3)).isoformat(),
        "customer_response": "accepted",
        "via": "phone",
    },
    "act": {"actions": [{"description": "已更换新机", "done_at": "2026-11-23T15:30"}]},
    "prevent": {"department": "quality", "preventive_action": "加强出厂电源检测"},
    "verify": {"satisfaction": "satisfied", "score": 5, "comment": "满意", "via": "phone"},
}


def errors_of(step: str, data: dict[str, Any], ctx: Context = CTX) -> dict[str, str]:
    with pytest.raises(EvidenceError) as info:
        validate_step(step, data, ctx)
    assert info.value.fields, "an EvidenceError always names a field"
    return {k: str(v) for k, v in info.value.fields.items()}


def good(step: str, **changes: Any) -> dict[str, Any]:
    data = json.loads(json.dumps(GOOD[step]))
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


# --- required fields, per step -----------------------------------------------------
EMPTY = {
    "apologise": {"method": REQUIRED, "apology": REQUIRED},
    "listen": {"account": REQUIRED, "expectation": REQUIRED, "temperament": REQUIRED},
    "confirm": {"restatement": REQUIRED, "via": REQUIRED, "customer_response": ASK},
    "analyse": {"root_cause_category": REQUIRED, "root_cause": REQUIRED},
    "agree": {
        "remedy": REQUIRED,
        "remedy_detail": REQUIRED,
        "due_date": REQUIRED,
        "via": REQUIRED,
        "customer_response": ASK,
    },
    "act": {"actions": "Give at least one action."},
    "prevent": {"department": REQUIRED},
    "verify": {"via": REQUIRED, "satisfaction": ASK},
}


@pytest.mark.parametrize("step", STEPS)
@pytest.mark.parametrize("blank", [None, "", "   ", "\n\t "])
def test_empty_evidence_names_every_required_field(step, blank):
    data = {f.name: blank for f in STEP_FIELDS[step]} if blank is not None else {}
    if step == "act" and blank is not None:
        data["actions"] = []
    assert errors_of(step, data) == EMPTY[step]


@pytest.mark.parametrize("step", STEPS)
def test_good_evidence_passes(step):
    inp = validate_step(step, GOOD[step], CTX)
    assert isinstance(inp, StepInput)
    assert inp.send_to_customer is False
    assert inp.staff_recorded_answer is True


REQUIRED_ONE_BY_ONE = [
    (step, f.name)
    for step in STEPS
    for f in STEP_FIELDS[step]
    if f.required and f.kind != "actions" and f.name in GOOD[step]
]


@pytest.mark.parametrize(("step", "name"), REQUIRED_ONE_BY_ONE)
def test_each_required_field_alone(step, name):
    assert errors_of(step, good(step, **{name: None})) == {name: REQUIRED}
    assert errors_of(step, good(step, **{name: " \n "})) == {name: REQUIRED}


@pytest.mark.parametrize(
    ("step", "changes", "expected"),
    [
        (
            "confirm",
            {"customer_response": "corrected"},
            {"correction": "Write down what the customer corrected."},
        ),
        ("confirm", {"customer_response": None}, {"customer_response": ASK}),
        ("agree", {"customer_response": "declined"}, {"reason": "Write down why the customer declined."}),
        ("agree", {"customer_response": None}, {"customer_response": ASK}),
        (
            "prevent",
            {"department": "none", "preventive_action": None},
            {"none_reason": "Explain why there is no systemic cause."},
        ),
        ("prevent", {"preventive_action": None}, {"preventive_action": "Describe the preventive action."}),
        ("verify", {"score": None}, {"score": "Give the customer's score from 1 to 5."}),
        (
            "verify",
            {"satisfaction": "dissatisfied", "score": None},
            {"score": "Give the customer's score from 1 to 5."},
        ),
        ("verify", {"satisfaction": None}, {"satisfaction": ASK}),
        ("verify", {"score": 0}, {"score": "Must be between 1 and 5."}),
        ("verify", {"score": 6}, {"score": "Must be between 1 and 5."}),
        ("verify", {"score": "five"}, {"score": "Must be a whole number."}),
        ("verify", {"score": True}, {"score": "Must be a whole number."}),
        ("verify", {"score": 4.5}, {"score": "Must be a whole number."}),
        ("verify", {"satisfaction": "no_response"}, {"score": "No score without a response."}),
        ("apologise", {"apology": "x" * 4001}, {"apology": "At most 4000 characters."}),
        ("apologise", {"apology": ["sorry"]}, {"apology": "Must be text."}),
        ("apologise", {"apology": {"text": "sorry"}}, {"apology": "Must be text."}),
        ("listen", {"account": "x" * 20001}, {"account": "At most 20000 characters."}),
        ("act", {"actions": "已更换新机"}, {"actions": "Give at least one action."}),
        (
            "act",
            {"actions": [{"description": "x", "done_at": "2026-11-23T10:00"}] * 51},
            {"actions": "At most 50 actions."},
        ),
        ("act", {"actions": [{"description": "x"}]}, {"actions": "Action 1: when it was done is required."}),
        (
            "act",
            {"actions": [{"done_at": "2026-11-23T10:00"}]},
            {"actions": "Action 1: a description is required."},
        ),
        (
            "act",
            {
                "actions": [
                    {"description": "a", "done_at": "2026-11-23T10:00"},
                    {"description": "b", "done_at": "soon"},
                ]
            },
            {"actions": "Action 2: Must be a date and time (YYYY-MM-DDTHH:MM)."},
        ),
        (
            "act",
            {"actions": [{"description": "a", "done_at": "2026-11-23T10:00", "by": 3}]},
            {"actions": "Action 1: give a description and when it was done."},
        ),
        (
            "act",
            {"actions": ["已更换新机"]},
            {"actions": "Action 1: give a description and when it was done."},
        ),
    ],
)
def test_dependent_fields_and_their_messages(step, changes, expected):
    assert errors_of(step, good(step, **changes)) == expected


def test_no_response_needs_no_channel_and_keeps_none():
    inp = validate_step("verify", {"satisfaction": "no_response", "via": "phone"}, CTX)
    assert inp.evidence == {"satisfaction": "no_response"}
    assert not inp.send_to_customer


# --- vocabularies -----------------------------------------------------------------------
CHOICES = [(step, f.name, f.choices) for step in STEPS for f in STEP_FIELDS[step] if f.kind == "choice"]


@pytest.mark.parametrize(("step", "name", "choices"), CHOICES, ids=[f"{s}-{n}" for s, n, _ in CHOICES])
def test_choices_come_from_the_vocabulary(step, name, choices):
    for bad in ("bogus", "PHONE", " phone", 1, True, ["phone"]):
        if isinstance(bad, str) and bad in choices:
            continue
        assert errors_of(step, good(step, **{name: bad})).get(name) == CHOOSE
    for code in choices:
        data = good(step, **{name: code})
        try:
            validate_step(step, data, CTX)
        except EvidenceError as e:
            # Another field may need filling for this code (e.g. department "none"), never this one.
            assert name not in e.fields or name == "via"


def test_the_apology_is_never_made_on_the_customer_link():
    assert errors_of("apologise", good("apologise", method="customer_link")) == {"method": CHOOSE}
    assert "customer_link" not in vocab.STAFF_METHODS


@pytest.mark.parametrize(
    ("step", "name", "vocabulary"),
    [
        ("listen", "temperament", vocab.TEMPERAMENTS),
        ("analyse", "root_cause_category", vocab.ROOT_CAUSE_CATEGORIES),
        ("agree", "remedy", vocab.REMEDIES),
        ("prevent", "department", vocab.DEPARTMENTS),
        ("verify", "satisfaction", vocab.SATISFACTION),
        ("confirm", "customer_response", vocab.CONFIRM_RESPONSES),
        ("agree", "customer_response", vocab.AGREE_RESPONSES),
    ],
)
def test_specs_use_the_spec_vocabularies(step, name, vocabulary):
    (spec,) = [f for f in STEP_FIELDS[step] if f.name == name]
    assert dict(spec.choices) == dict(vocabulary)


def test_field_names_are_those_of_the_api_contract():
    """SPEC §5: these names stay."""
    assert {s: [f.name for f in STEP_FIELDS[s]] for s in STEPS} == {
        "apologise": ["method", "apology", "apologised_at"],
        "listen": ["account", "expectation", "temperament"],
        "confirm": ["restatement", "customer_response", "correction", "via"],
        "analyse": ["root_cause_category", "root_cause", "escape_point"],
        "agree": ["remedy", "remedy_detail", "amount", "due_date", "customer_response", "reason", "via"],
        "act": ["actions"],
        "prevent": ["department", "preventive_action", "none_reason"],
        "verify": ["satisfaction", "score", "comment", "via"],
    }
    assert ANSWER_FIELD == {
        "confirm": "customer_response",
        "agree": "customer_response",
        "verify": "satisfaction",
    }


# --- dates --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("due", "error"),
    [
        ((TODAY - timedelta(days=1)).isoformat(), "The date cannot be in the past."),
        ("2020-01-01", "The date cannot be in the past."),
        (TODAY.isoformat(), None),
        ((TODAY + timedelta(days=365)).isoformat(), None),
        ("2026-13-01", "Must be a date (YYYY-MM-DD)."),
        ("next week", "Must be a date (YYYY-MM-DD)."),
        (20261130, "Must be a date (YYYY-MM-DD)."),
    ],
)
def test_due_date(due, error):
    data = good("agree", due_date=due)
    if error is None:
        assert validate_step("agree", data, CTX).evidence["due_date"] == due
    else:
        assert errors_of("agree", data) == {"due_date": error}


def test_due_date_today_is_judged_in_the_deployment_time_zone():
    # 23:30 UTC on the 22nd is already the 23rd in Shanghai: the 22nd is in the past there.
    late = Context(now=datetime(2026, 11, 22, 23, 30), tz=TZ)
    assert errors_of("agree", good("agree", due_date="2026-11-22"), late) == {
        "due_date": "The date cannot be in the past."
    }
    assert (
        validate_step("agree", good("agree", due_date="2026-11-23"), late).evidence["due_date"]
        == "2026-11-23"
    )


@pytest.mark.parametrize(
    ("done_at", "ok"),
    [
        ("2026-11-23T16:04", True),  # local time, 4 minutes ahead: clocks differ a little
        ("2026-11-23T16:06", False),
        ("2026-11-23T08:04:00Z", True),
        ("2026-11-23T09:00:00+00:00", False),
        ("2026-11-24T00:00", False),
        ("2030-01-01T00:00", False),
        ("2026-11-20T09:00", True),
    ],
)
def test_actions_cannot_be_done_in_the_future(done_at, ok):
    data = good("act", actions=[{"description": "已更换新机", "done_at": done_at}])
    if ok:
        validate_step("act", data, CTX)
    else:
        assert errors_of("act", data) == {"actions": "Action 1: it cannot be done in the future."}


def test_apology_time_cannot_be_in_the_future_and_is_stored_in_utc():
    ahead = good("apologise", apologised_at="2026-11-23T17:00")
    assert errors_of("apologise", ahead) == {"apologised_at": "The apology cannot be in the future."}
    inp = validate_step("apologise", good("apologise", apologised_at="2026-11-23T15:00"), CTX)
    assert inp.evidence["apologised_at"] == "2026-11-23T07:00:00"
    inp = validate_step("apologise", good("apologise", apologised_at="2026-11-23T07:00:00Z"), CTX)
    assert inp.evidence["apologised_at"] == "2026-11-23T07:00:00"


@pytest.mark.parametrize(
    "value",
    [
        "yesterday",
        "2026-11-23 25:00",
        "0001-01-01T00:00",
        "1899-12-31T23:59",
        "9999-12-31T23:00-05:00",
        17,
        [],
        {},
    ],
)
def test_unreadable_datetimes_are_refused_with_a_message(value):
    assert errors_of("apologise", good("apologise", apologised_at=value)) == {
        "apologised_at": "Must be a date and time (YYYY-MM-DDTHH:MM)."
    }
    assert errors_of("act", good("act", actions=[{"description": "x", "done_at": value}])) == {
        "actions": "Action 1: Must be a date and time (YYYY-MM-DDTHH:MM)."
    }


# --- unknown fields, characters -----------------------------------------------------
@pytest.mark.parametrize("step", STEPS)
@pytest.mark.parametrize("name", ["owner_id", "owner", "state", "version", "assign_to", "recorded_by_id"])
def test_unknown_fields_are_refused(step, name):
    assert errors_of(step, good(step, **{name: 3})) == {name: UNKNOWN}


def test_intake_refuses_an_owner():
    data = {
        "customer_name": "陈先生",
        "customer_phone": "138 0013 8000",
        "channel": "phone",
        "summary": "电脑无法开机",
        "description": "按电源键没有反应。",
        "category": "product",
        "severity": "normal",
    }
    assert validate_intake(data, CTX)["customer_phone"] == "138 0013 8000"
    with pytest.raises(EvidenceError) as info:
        validate_intake({**data, "owner_id": 1}, CTX)
    assert info.value.fields == {"owner_id": UNKNOWN}
    with pytest.raises(EvidenceError) as info:
        validate_intake({**data, "customer_phone": None}, CTX)
    assert info.value.fields == {"customer_phone": "Give a phone number or an email address."}
    with pytest.raises(EvidenceError) as info:
        validate_intake({**data, "purchase_date": (TODAY + timedelta(days=1)).isoformat()}, CTX)
    assert info.value.fields == {"purchase_date": "The purchase date cannot be in the future."}


TEXT_FIELDS = [(s, f.name) for s in STEPS for f in STEP_FIELDS[s] if f.kind == "text"]


@pytest.mark.parametrize(("step", "name"), TEXT_FIELDS)
@pytest.mark.parametrize("bad", ["before\x00after", "\x00", "lone \ud800 surrogate", "\udfff"])
def test_nul_and_unstorable_characters_are_refused(step, name, bad):
    data = good(step, **{name: bad})
    if name in ("correction",):
        data["customer_response"] = "corrected"
    if name == "reason":
        data["customer_response"] = "declined"
    if name == "none_reason":
        data["department"] = "none"
    assert errors_of(step, data) == {name: NOT_ALLOWED}


@pytest.mark.parametrize(
    "value", [10**4300, -(10**5000), float("nan"), float("inf")], ids=["big", "-big", "nan", "inf"]
)
def test_numbers_that_cannot_be_text(value):
    """A number where text is expected is taken as its digits, unless it is too long to print."""
    errs = errors_of("listen", good("listen", expectation=value, temperament=None))
    if isinstance(value, int):
        assert errs == {"expectation": "Must be text.", "temperament": REQUIRED}
    else:
        assert errs == {"temperament": REQUIRED}


def test_nul_in_an_action_and_in_a_reason():
    assert errors_of(
        "act", good("act", actions=[{"description": "a\x00", "done_at": "2026-11-23T10:00"}])
    ) == {"actions": f"Action 1: {NOT_ALLOWED}"}
    with pytest.raises(EvidenceError) as info:
        validate_reason("dup\x00licate")
    assert info.value.fields == {"reason": NOT_ALLOWED}
    assert validate_reason("  重复登记  ") == "重复登记"


def test_text_is_trimmed_and_line_endings_normalised():
    inp = validate_step("listen", good("listen", account="  第一行\r\n第二行\r第三行  ", expectation=7), CTX)
    assert inp.evidence["account"] == "第一行\n第二行\n第三行"
    assert inp.evidence["expectation"] == "7"


# --- the customer's answer and the customer link --------------------------------------
@pytest.mark.parametrize("step", CUSTOMER_STEPS)
def test_staff_cannot_record_an_answer_on_the_customer_link(step):
    errs = errors_of(step, good(step, via="customer_link"))
    assert list(errs) == ["via"]
    assert "Only the customer can answer on the customer link" in errs["via"]


@pytest.mark.parametrize("step", CUSTOMER_STEPS)
def test_the_customer_link_without_an_answer_sends_the_question(step):
    data = {
        k: v
        for k, v in GOOD[step].items()
        if k not in ("customer_response", "satisfaction", "score", "comment")
    }
    inp = validate_step(step, {**data, "via": "customer_link"}, CTX)
    assert inp.send_to_customer is True
    assert inp.staff_recorded_answer is False
    assert ANSWER_FIELD[step] not in inp.evidence
    assert inp.evidence["via"] == "customer_link"


@pytest.mark.parametrize("step", ["confirm", "agree"])
def test_sending_the_question_still_needs_the_rest_of_the_evidence(step):
    required = [f.name for f in STEP_FIELDS[step] if f.required and f.name != "via"]
    errs = errors_of(step, {"via": "customer_link"})
    assert errs == dict.fromkeys(required, REQUIRED)


@pytest.mark.parametrize("step", [s for s in STEPS if s not in CUSTOMER_STEPS])
def test_only_the_customer_steps_have_a_channel(step):
    assert errors_of(step, good(step, via="customer_link")) == {"via": UNKNOWN}


# --- Hypothesis: arbitrary input ---------------------------------------------------------
FIELD_NAMES = sorted(
    {f.name for fields in STEP_FIELDS.values() for f in fields} | {f.name for f in INTAKE_FIELDS}
)
KEYS = st.one_of(st.sampled_from([*FIELD_NAMES, "owner_id", "description", "done_at"]), st.text(max_size=12))
OFFSETS = [UTC, TZ, timezone(timedelta(hours=-5)), timezone(timedelta(hours=14))]
DATEISH = st.one_of(
    st.dates().map(date.isoformat),
    st.datetimes(timezones=st.sampled_from(OFFSETS)).map(datetime.isoformat),
    st.builds(
        "{:04d}-{:02d}-{:02d}T{:02d}:{:02d}{}".format,
        st.integers(0, 9999),
        st.integers(0, 13),
        st.integers(0, 32),
        st.integers(0, 24),
        st.integers(0, 60),
        st.sampled_from(["", "Z", ":00", "+00:00", "-05:00", "+14:00", "-23:59"]),
    ),
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(),
    st.text(alphabet=st.characters(codec="utf-8")),
    st.sampled_from(["\x00", "\ud800", "\r\n", "  ", "customer_link", "no_response", "none", "1", "5"]),
    st.sampled_from(
        sorted({c for f in STEP_FIELDS["verify"] + STEP_FIELDS["agree"] if f.choices for c in f.choices})
    ),
    DATEISH,
)
JSONISH = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(
            st.sampled_from(["description", "done_at", "x"]) | st.text(max_size=5), inner, max_size=4
        ),
    ),
    max_leaves=12,
)
ARBITRARY = st.dictionaries(KEYS, JSONISH, max_size=8)


def _check_clean(step: str, inp: StepInput) -> None:
    """What an accepted StepInput always is: known keys, storable JSON, no forbidden characters."""
    names = {f.name for f in STEP_FIELDS[step]}
    assert set(inp.evidence) <= names
    text = json.dumps(inp.evidence, ensure_ascii=False)
    text.encode("utf-8")
    assert "\\u0000" not in text
    assert json.loads(text) == inp.evidence


@settings(max_examples=250, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(step=st.sampled_from(STEPS), data=ARBITRARY)
def test_arbitrary_input_only_ever_raises_evidence_error(step, data):
    try:
        inp = validate_step(step, data, CTX)
    except EvidenceError as e:
        assert e.fields
        assert all(isinstance(m, str) and m for m in map(str, e.fields.values()))
        return
    _check_clean(step, inp)


@settings(max_examples=150, deadline=None)
@given(step=st.sampled_from(STEPS), base=st.data())
def test_arbitrary_changes_to_good_evidence_only_ever_raise_evidence_error(step, base):
    data = dict(GOOD[step])
    changes = base.draw(
        st.dictionaries(
            st.sampled_from([f.name for f in STEP_FIELDS[step]] + ["owner_id"]), JSONISH, max_size=3
        )
    )
    data.update(changes)
    try:
        inp = validate_step(step, data, CTX)
    except EvidenceError as e:
        assert e.fields
        return
    _check_clean(step, inp)


@settings(max_examples=150, deadline=None)
@given(data=ARBITRARY, reason=JSONISH)
def test_arbitrary_intake_and_reasons_only_ever_raise_evidence_error(data, reason):
    try:
        out = validate_intake(data, CTX)
    except EvidenceError as e:
        assert e.fields
    else:
        json.dumps(out, ensure_ascii=False).encode("utf-8")
    try:
        text = validate_reason(reason)
    except EvidenceError as e:
        assert list(e.fields) == ["reason"]
    else:
        assert text and text == text.strip() and "\x00" not in text
        text.encode("utf-8")


# --- Hypothesis: valid evidence round-trips ---------------------------------------------
STORABLE = st.characters(codec="utf-8", exclude_characters="\x00")
TEXT = st.text(STORABLE, min_size=1, max_size=60).filter(lambda t: t.strip())
LOCAL_PAST = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2026, 11, 23, 16, 0))


def _local_text(d: datetime) -> str:
    return d.isoformat(timespec="minutes")


def _utc_text(d: datetime) -> str:
    return d.replace(tzinfo=TZ).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


WHEN = LOCAL_PAST.flatmap(lambda d: st.sampled_from([_local_text(d), _utc_text(d)]))
STAFF_VIA = st.sampled_from(sorted(vocab.STAFF_METHODS))


def _choice(vocabulary: dict[str, Any]):
    return st.sampled_from(sorted(vocabulary))


@st.composite
def valid_evidence(draw, step: str) -> dict[str, Any]:
    link = step in CUSTOMER_STEPS and draw(st.booleans())
    via = "customer_link" if link else draw(STAFF_VIA)
    if step == "apologise":
        ev = {"method": draw(STAFF_VIA), "apology": draw(TEXT)}
        if draw(st.booleans()):
            ev["apologised_at"] = draw(WHEN)
        return ev
    if step == "listen":
        return {
            "account": draw(TEXT),
            "expectation": draw(TEXT),
            "temperament": draw(_choice(vocab.TEMPERAMENTS)),
        }
    if step == "confirm":
        ev = {"restatement": draw(TEXT), "via": via}
        if not link:
            ev["customer_response"] = draw(_choice(vocab.CONFIRM_RESPONSES))
            if ev["customer_response"] == "corrected":
                ev["correction"] = draw(TEXT)
        return ev
    if step == "analyse":
        ev = {"root_cause_category": draw(_choice(vocab.ROOT_CAUSE_CATEGORIES)), "root_cause": draw(TEXT)}
        if draw(st.booleans()):
            ev["escape_point"] = draw(TEXT)
        return ev
    if step == "agree":
        due = draw(st.dates(min_value=TODAY, max_value=date(2100, 1, 1)))
        ev = {
            "remedy": draw(_choice(vocab.REMEDIES)),
            "remedy_detail": draw(TEXT),
            "due_date": due.isoformat(),
            "via": via,
        }
        if ev["remedy"] == "compensation" or draw(st.booleans()):  # as stored: two decimals
            ev["amount"] = f"{draw(st.integers(1, 10**10 - 1))}.{draw(st.integers(0, 99)):02d}"
        if not link:
            ev["customer_response"] = draw(_choice(vocab.AGREE_RESPONSES))
            if ev["customer_response"] == "declined":
                ev["reason"] = draw(TEXT)
        return ev
    if step == "act":
        actions = draw(
            st.lists(st.fixed_dictionaries({"description": TEXT, "done_at": WHEN}), min_size=1, max_size=5)
        )
        return {"actions": actions}
    if step == "prevent":
        dept = draw(_choice(vocab.DEPARTMENTS))
        if dept == "none":
            return {"department": dept, "none_reason": draw(TEXT)}
        return {"department": dept, "preventive_action": draw(TEXT)}
    assert step == "verify"
    if link:
        return {"via": via}
    answer = draw(_choice(vocab.SATISFACTION))
    if answer == "no_response":
        return {"satisfaction": answer}
    ev = {"satisfaction": answer, "score": draw(st.integers(1, 5)), "via": via}
    if draw(st.booleans()):
        ev["comment"] = draw(TEXT)
    return ev


def _as_shown(step: str, evidence: dict[str, Any]) -> dict[str, Any]:
    """Evidence as the API shows it: stored naive-UTC date-times marked with their "Z"."""
    out = json.loads(json.dumps(evidence))
    for f in STEP_FIELDS[step]:
        if f.kind == "datetime" and f.name in out:
            out[f.name] += "Z"
        if f.kind == "actions":
            for a in out[f.name]:
                a["done_at"] += "Z"
    return out


@settings(max_examples=300, deadline=None)
@given(data=st.data(), step=st.sampled_from(STEPS))
def test_valid_evidence_always_round_trips(data, step):
    given_ev = data.draw(valid_evidence(step))
    first = validate_step(step, given_ev, CTX)
    _check_clean(step, first)
    assert first.send_to_customer == (given_ev.get("via") == "customer_link")
    # Stored as JSON and read back: the same values.
    assert json.loads(json.dumps(first.evidence)) == first.evidence
    # Shown, then sent back unchanged (a form prefilled with it, an API client echoing it).
    again = validate_step(step, _as_shown(step, first.evidence), CTX)
    assert again == first
    # What the evidence says is what was given, up to trimming and line endings.
    for key, value in given_ev.items():
        if isinstance(value, str) and key in first.evidence and key not in ("apologised_at",):
            assert first.evidence[key] == value.replace("\r\n", "\n").replace("\r", "\n").strip()


@settings(max_examples=100, deadline=None)
@given(text=st.text(STORABLE.filter(lambda c: not c.isspace()), min_size=1, max_size=40))
def test_text_fields_keep_what_was_typed(text):
    assert validate_step("listen", good("listen", account=text), CTX).evidence["account"] == text
