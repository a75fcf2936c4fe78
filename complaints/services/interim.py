"""Interim measures: containment while the real fix is under way (a loaner device, 备用机).

From listen onward the owner records a measure with the date it was given, and later marks it
withdrawn or made permanent. While a measure is open the case cannot close: the verify step's
closing answers (satisfied, neutral, no response — recorded by staff or given by the customer on
their link) are refused, and so is sending the satisfaction question, which could only close it.
A dissatisfied answer still goes back to analysis.

Like every service these change, append their events and flush; the caller commits.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from complaints.errors import Conflict, Forbidden
from complaints.evidence import Context, EvidenceError, Field, StepInput, validate_fields
from complaints.models import Case, InterimMeasure, User
from complaints.services.history import append_event
from complaints.workflow import STEPS, Actor

# From listen onward: the customer has been heard, the real fix is not there yet.
MEASURE_STATES = STEPS[STEPS.index("listen") :]
# The verify answers that close the case.
CLOSING_ANSWERS = ("satisfied", "neutral", "no_response")
ENDINGS = {"withdrawn": _l("Withdrawn (given back)"), "made_permanent": _l("Made permanent")}

GIVE_FIELDS: tuple[Field, ...] = (
    Field(
        "description",
        "text",
        _l("Interim measure"),
        max_length=2000,
        help=_l("What the customer was given while the real fix is under way, e.g. a loaner device."),
    ),
    Field("given_at", "datetime", _l("Given on (leave empty for now)"), required=False),
)
END_FIELDS: tuple[Field, ...] = (
    Field("outcome", "choice", _l("How it ends"), choices=ENDINGS),
    Field("ended_at", "datetime", _l("When (leave empty for now)"), required=False),
)


def _when(values: Mapping[str, Any], name: str, ctx: Context) -> datetime:
    """A date given, or now; never in the future."""
    at = datetime.fromisoformat(values[name]) if name in values else ctx.now.replace(microsecond=0)
    if at > ctx.now + timedelta(minutes=5):
        raise EvidenceError({name: _("This cannot be in the future.")})
    return at


def validate_measure(data: Mapping[str, Any], ctx: Context) -> tuple[str, datetime]:
    """(description, given_at)."""
    values = validate_fields(GIVE_FIELDS, data, ctx)
    return values["description"], _when(values, "given_at", ctx)


def validate_end(data: Mapping[str, Any], ctx: Context) -> tuple[str, datetime]:
    """(outcome, ended_at)."""
    values = validate_fields(END_FIELDS, data, ctx)
    return values["outcome"], _when(values, "ended_at", ctx)


# --- reading ------------------------------------------------------------------------------
def measures_of(s: Session, case: Case) -> list[InterimMeasure]:
    """Every measure of the case, oldest first."""
    with s.no_autoflush:
        return list(
            s.scalars(
                select(InterimMeasure).where(InterimMeasure.case_id == case.id).order_by(InterimMeasure.id)
            )
        )


def open_interim_measures(s: Session, case: Case) -> list[InterimMeasure]:
    """The measures still with the customer (neither withdrawn nor made permanent)."""
    return [m for m in measures_of(s, case) if m.is_open]


# --- changing -----------------------------------------------------------------------------
def _owner_only(case: Case, actor: User) -> None:
    if case.owner_id != actor.id:
        raise Forbidden(_("Only the owner records interim measures."))


def give_measure(
    s: Session, case: Case, actor: User, description: str, given_at: datetime, now: datetime
) -> InterimMeasure:
    """The owner records an interim measure given to the customer."""
    _owner_only(case, actor)
    if case.state not in MEASURE_STATES:
        raise Conflict(
            _("Interim measures are recorded from the listening step until the case closes."),
            "wrong_state",
        )
    measure = InterimMeasure(
        case_id=case.id, description=description, given_at=given_at, created_by_id=actor.id, created_at=now
    )
    s.add(measure)
    s.flush()
    append_event(
        s,
        case,
        "interim_measure_given",
        Actor.staff(actor.id),
        {"measure_id": measure.id, "description": description, "given_at": given_at.isoformat()},
        now,
    )
    return measure


def end_measure(
    s: Session,
    case: Case,
    measure: InterimMeasure,
    actor: User,
    outcome: str,
    at: datetime,
    now: datetime,
) -> InterimMeasure:
    """The measure is withdrawn (given back) or made permanent: it no longer holds the case open."""
    _owner_only(case, actor)
    if measure.case_id != case.id:
        raise Conflict(_("This measure belongs to another case."), "wrong_case")
    if not case.is_open:
        raise Conflict(_("The case has ended."), "wrong_state")
    if not measure.is_open:
        raise Conflict(_("This interim measure has ended already."), "already_ended")
    if at < measure.given_at:
        raise EvidenceError({"ended_at": _("This cannot be before the measure was given.")})
    if outcome == "withdrawn":
        measure.withdrawn_at = at
        action = "interim_measure_withdrawn"
    else:
        measure.made_permanent_at = at
        action = "interim_measure_made_permanent"
    s.flush()
    append_event(
        s, case, action, Actor.staff(actor.id), {"measure_id": measure.id, "at": at.isoformat()}, now
    )
    return measure


def check_closure(s: Session, case: Case, step: str, inp: StepInput) -> None:
    """Refuse a move that would close the case (or ask the customer the question that would)
    while an interim measure is open."""
    if step != "verify":
        return
    closing = inp.evidence.get("satisfaction") in CLOSING_ANSWERS or (
        inp.send_to_customer and "satisfaction" not in inp.evidence
    )
    if not closing:
        return
    measures = open_interim_measures(s, case)
    if measures:
        raise Conflict(
            _(
                "The case cannot close while an interim measure is open (%(measures)s): "
                "mark it withdrawn or made permanent first.",
                measures="; ".join(_short(m.description) for m in measures),
            ),
            "interim_measures_open",
        )


def _short(text: str, n: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


__all__ = [
    "MEASURE_STATES",
    "check_closure",
    "end_measure",
    "give_measure",
    "measures_of",
    "open_interim_measures",
]
