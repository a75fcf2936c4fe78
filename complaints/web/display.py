"""How cases, evidence and history read on the page: labels, dates, progress. No decisions."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from flask_babel import format_date, format_datetime, format_timedelta
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from complaints import vocab
from complaints.db import get_session
from complaints.evidence import STEP_FIELDS, Field
from complaints.models import Case, Event, StepRecord, User
from complaints.workflow import STATE_LABELS, STEPS

DATETIME_FORMAT = "yyyy-MM-dd HH:mm"

ACTION_LABELS = {
    "case_opened": _l("Case opened"),
    "case_claimed": _l("Claimed"),
    "step_completed": _l("Step completed"),
    "sent_to_customer": _l("Question sent to the customer"),
    "customer_link_created": _l("Customer link created"),
    "case_withdrawn": _l("Withdrawn"),
    "assistant_invited": _l("Assistant invited"),
    "note_added": _l("Internal note added"),
    "progress_update_sent": _l("Progress update sent"),
    "phrase_refused": _l("Forbidden phrase refused"),
    "owner_changed": _l("Owner changed"),
    "case_audited": _l("Audited"),
    "case_reopened": _l("Reopened after audit"),
    "clock_paused": _l("Clock paused: awaiting the customer"),
    "clock_resumed": _l("Clock resumed"),
    "deadline_breached": _l("Time limit breached"),
    "remedy_approval_requested": _l("Approval of a remedy beyond policy requested"),
    "remedy_approved": _l("Remedy beyond policy approved"),
    "remedy_refused": _l("Remedy beyond policy refused"),
    "interim_measure_given": _l("Interim measure given"),
    "interim_measure_withdrawn": _l("Interim measure withdrawn"),
    "interim_measure_made_permanent": _l("Interim measure made permanent"),
}

VOCABULARIES = {
    "channel": vocab.CHANNELS,
    "severity": vocab.SEVERITIES,
    "category": vocab.CATEGORIES,
}


def when(value: datetime | None) -> str:
    """A stored (naive UTC) time in the configured time zone."""
    return format_datetime(value, DATETIME_FORMAT) if value else ""


def day(value: date | str | None) -> str:
    if not value:
        return ""
    if isinstance(value, str):
        value = date.fromisoformat(value)
    return format_date(value, "medium")


def label(kind: str, code: str | None) -> str:
    """The translated label of a vocabulary code (channel, severity, category, state)."""
    if code is None:
        return ""
    if kind == "state":
        return str(STATE_LABELS.get(code, code))
    return str(VOCABULARIES[kind].get(code, code))


@dataclass
class StepStatus:
    step: str
    number: int
    label: str
    status: str  # completed | current | pending | not_reached


def progress(case: Case) -> list[StepStatus]:
    """The eight steps and where the case stands on each (a loop makes later steps pending again)."""
    done = {r.step for r in case.steps}
    out = []
    for i, step in enumerate(STEPS, start=1):
        if case.state == "closed":
            status = "completed"
        elif case.state == "withdrawn":
            status = "completed" if step in done else "not_reached"
        elif case.state in STEPS:
            current = STEPS.index(case.state) + 1
            status = "completed" if i < current else "current" if i == current else "pending"
        else:
            status = "pending"
        out.append(StepStatus(step, i, str(STATE_LABELS[step]), status))
    return out


def is_overdue(case: Case, now: datetime) -> bool:
    return case.is_open and case.due_at is not None and case.due_at < now


def _value(spec: Field, value: Any) -> Any:
    if spec.kind == "choice" and spec.choices is not None:
        return str(spec.choices.get(value, value))
    if spec.kind == "date":
        return day(value)
    if spec.kind == "datetime":
        return when(datetime.fromisoformat(value))
    if spec.kind == "actions":
        return [
            {"description": a.get("description", ""), "done_at": when(datetime.fromisoformat(a["done_at"]))}
            for a in value
        ]
    return value


@dataclass
class EvidenceView:
    record: StepRecord
    step_label: str
    outcome_label: str
    rows: list[tuple[str, str, Any]]  # (label, kind, shown value)
    via: str | None


def evidence(record: StepRecord) -> EvidenceView:
    """A completed step's evidence, labelled and formatted, in the spec's order."""
    rows = []
    for spec in STEP_FIELDS.get(record.step, ()):
        if spec.name in record.evidence:
            kind = "actions" if spec.kind == "actions" else "text" if spec.kind == "text" else "line"
            rows.append((str(spec.label), kind, _value(spec, record.evidence[spec.name])))
    via = record.evidence.get("via")
    return EvidenceView(
        record=record,
        step_label=str(STATE_LABELS.get(record.step, record.step)),
        outcome_label=str(STATE_LABELS.get(record.outcome, record.outcome)),
        rows=rows,
        via=str(vocab.METHODS.get(via, via)) if via else None,
    )


@dataclass
class HistoryRow:
    seq: int
    at: str
    actor: str
    action: str
    detail: str


def _shorten(text: str, n: int = 160) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"


def history(case: Case) -> list[HistoryRow]:
    """The case's events, oldest first, with who did it and the key data."""
    s = get_session()
    events = list(s.scalars(select(Event).where(Event.case_id == case.id).order_by(Event.seq)))
    datas = [json.loads(ev.data) for ev in events]
    user_ids = {
        d[k]
        for d in datas
        for k in ("owner_id", "user_id", "from_owner_id", "to")
        if isinstance(d.get(k), int)
    }
    names = dict(s.execute(select(User.id, User.name).where(User.id.in_(user_ids))).all()) if user_ids else {}
    rows = []
    for ev, d in zip(events, datas, strict=True):
        if ev.actor_kind == "customer":
            actor = _("Customer")
        elif ev.actor_kind == "system":
            actor = _("System")
        else:
            actor = ev.actor.name if ev.actor else "?"
        rows.append(
            HistoryRow(
                seq=ev.seq,
                at=when(ev.at),
                actor=actor,
                action=str(ACTION_LABELS.get(ev.action, ev.action)),
                detail=_detail(ev.action, d, names),
            )
        )
    return rows


def _detail(action: str, d: dict[str, Any], names: dict[int, str]) -> str:
    state = lambda code: str(STATE_LABELS.get(code, code))  # noqa: E731
    if action == "case_opened":
        return _("Reference %(ref)s", ref=d.get("reference", ""))
    if action == "case_claimed":
        return _("Owner: %(name)s", name=names.get(d.get("owner_id"), "?"))
    if action == "step_completed":
        text = _("%(src)s → %(dest)s", src=state(d.get("from")), dest=state(d.get("to")))
        if d.get("staff_recorded"):
            text += " · " + _("customer's answer staff-recorded")
        return text
    if action == "sent_to_customer":
        return state(d.get("step"))
    if action == "case_withdrawn":
        return _("Reason: %(reason)s", reason=_shorten(d.get("reason", "")))
    if action == "assistant_invited":
        return names.get(d.get("user_id"), "?")
    if action in ("note_added", "progress_update_sent"):
        return _shorten(d.get("body", ""))
    if action == "phrase_refused":
        labels = {f.name: f.label for f in STEP_FIELDS.get(d.get("context", ""), ())}
        where = labels.get(d.get("field", ""), _("Progress update"))
        return _("“%(phrase)s”, in: %(field)s", phrase=d.get("phrase", ""), field=where)
    if action == "owner_changed":
        return _("To %(name)s", name=names.get(d.get("to"), "?"))
    if action == "deadline_breached" and d.get("due_at"):
        return _(
            "%(state)s was due %(when)s",
            state=state(d.get("state")),
            when=when(datetime.fromisoformat(d["due_at"])),
        )
    if action in ("remedy_approval_requested", "remedy_approved", "remedy_refused"):
        parts = [str(vocab.REMEDIES.get(d.get("remedy", ""), d.get("remedy", ""))), d.get("amount") or ""]
        return " · ".join(p for p in [*parts, _shorten(d.get("note", ""))] if p)
    if action == "interim_measure_given":
        return _shorten(d.get("description", ""))
    if action == "clock_paused":
        return state(d.get("state"))
    if action == "clock_resumed":
        return _(
            "Paused for %(duration)s",
            duration=format_timedelta(timedelta(seconds=d.get("paused_seconds", 0))),
        )
    return ""


def depends_help(spec: Field, specs: tuple[Field, ...]) -> str | None:
    """When a field only matters for some answers of another, say so next to it."""
    if spec.depends is None:
        return None
    name, values = spec.depends
    other = next((s for s in specs if s.name == name), None)
    if other is None:
        return None
    choices = other.choices or {}
    shown = " / ".join(str(choices.get(v, v)) for v in values)
    return _("Needed when “%(field)s” is “%(value)s”.", field=other.label, value=shown)
