"""Quality audits: the audit queue, the checklist of a case, and the auditor's verdict.

The queue holds every closed or withdrawn case whose current closure has not been
audited and that either must be audited (``Case.must_audit``: a dissatisfied or
staff-recorded answer, a reopen, an owner change, a refused phrase, a breach) or falls
in the random sample. The sample is a keyed hash of the case id, computed the same way
in SQL and in Python, so a case is in or out every time, in every process.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import BigInteger, ColumnElement, Select, and_, cast, literal_column, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from complaints import vocab
from complaints.checklist import ITEM_CODES, Facts, HistoryEvent, ItemResult, by_customer, evaluate, is_answer
from complaints.errors import Conflict, Stale
from complaints.evidence import EvidenceError, validate_reason
from complaints.models import Audit, Case, Event, User
from complaints.services import deadlines
from complaints.services.history import append_event, verify_case
from complaints.workflow import REOPEN_TARGETS, TERMINAL_STATES, Actor, WorkflowRefused, fire

VERDICTS = {"compliant": _l("Compliant"), "findings": _l("Findings")}
VERDICT_FIELDS = ("verdict", "findings", "reopen_to")
MAX_FINDINGS = 50

# Why a case is in the queue, shown next to it.
REASONS = {
    "dissatisfied": _l("Dissatisfied answer"),
    "reopened": _l("Reopened"),
    "owner_changed": _l("Owner changed"),
    "staff_recorded": _l("Staff-recorded customer answer"),
    "phrase_refused": _l("Forbidden phrase refused"),
    "deadline_breached": _l("Time limit breached"),
    "flagged": _l("Flagged for audit"),
    "sample": _l("Random sample"),
}
_REASON_ACTIONS = {
    "case_reopened": "reopened",
    "owner_changed": "owner_changed",
    "phrase_refused": "phrase_refused",
    "deadline_breached": "deadline_breached",
}


# --- the sample -----------------------------------------------------------------------
# Arithmetic modulo the prime 2^31 - 1 stays inside 64-bit integers on SQLite and
# PostgreSQL for every case id below 2^31 (the id column is a 32-bit integer).
_PRIME = 2_147_483_647


def _salt_numbers(salt: str) -> tuple[int, int, int, int, int]:
    """Five numbers below the prime, from SHA-256 of the salt (never Python's hash())."""
    digest = hashlib.sha256(("audit-sample:" + salt).encode("utf-8")).digest()
    a, s1, s2, b, s3 = (int.from_bytes(digest[i * 6 : i * 6 + 6], "big") % _PRIME for i in range(5))
    return a or 1, s1, s2, b or 1, s3


def sample_bucket(case_id: int, salt: str) -> int:
    """0-99: the case is in a p% sample when its bucket is below p."""
    a, s1, s2, b, s3 = _salt_numbers(salt)
    x = (case_id * a + s1) % _PRIME
    y = (x * x + s2) % _PRIME
    return ((y * b + s3) % _PRIME) % 100


def sample_bucket_sql(column: Any, salt: str) -> ColumnElement[int]:
    """The same bucket, computed by the database (64-bit integer arithmetic)."""
    a, s1, s2, b, s3 = (literal_column(str(n)) for n in _salt_numbers(salt))
    p = literal_column(str(_PRIME))
    x = (cast(column, BigInteger) * a + s1) % p
    y = (x * x + s2) % p
    return ((y * b + s3) % p) % literal_column("100")


@dataclass(frozen=True)
class SampleSettings:
    percent: int
    salt: str

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SampleSettings:
        percent = max(0, min(100, int(config.get("AUDIT_SAMPLE_PERCENT", 10))))
        salt = config.get("AUDIT_SAMPLE_SALT") or config.get("SECRET_KEY") or ""
        return cls(percent, str(salt))

    def includes(self, case_id: int) -> bool:
        return sample_bucket(case_id, self.salt) < self.percent


def sample_settings() -> SampleSettings:
    return SampleSettings.from_config(current_app.config)


# --- the queue ------------------------------------------------------------------------
@dataclass(frozen=True)
class QueueFilters:
    """Closed between two dates (inclusive, in the configured time zone), owner, category, product."""

    closed_from: date | None = None
    closed_to: date | None = None
    owner_id: int | None = None
    category: str | None = None
    product: str | None = None

    def args(self) -> dict[str, str]:
        """As query-string arguments (the same names the forms and the API use)."""
        out = {
            "from": self.closed_from.isoformat() if self.closed_from else "",
            "to": self.closed_to.isoformat() if self.closed_to else "",
            "owner": str(self.owner_id) if self.owner_id else "",
            "category": self.category or "",
            "product": self.product or "",
        }
        return {k: v for k, v in out.items() if v}


def parse_queue_filters(args: Mapping[str, Any], *, strict: bool) -> QueueFilters:
    """From ``from``, ``to``, ``owner``, ``category``, ``product``; strict (API) refuses bad
    values with 422, lenient (a bookmarked page) drops them."""
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    for name, key in (("from", "closed_from"), ("to", "closed_to")):
        raw = (args.get(name) or "").strip()
        if raw:
            try:
                values[key] = date.fromisoformat(raw)
            except ValueError:
                errors[name] = _("Use a date as YYYY-MM-DD.")
    raw_owner = (args.get("owner") or "").strip()
    if raw_owner:
        if raw_owner.isdigit() and 0 < int(raw_owner) < 2**31:
            values["owner_id"] = int(raw_owner)
        else:
            errors["owner"] = _("Give a user id.")
    category = (args.get("category") or "").strip()
    if category:
        if category in vocab.CATEGORIES:
            values["category"] = category
        else:
            errors["category"] = _("Choose one of the listed values.")
    product = " ".join((args.get("product") or "").split())
    if product:
        if len(product) <= 200:
            values["product"] = product
        else:
            errors["product"] = _("At most %(n)d characters.", n=200)
    if "closed_from" in values and "closed_to" in values and values["closed_from"] > values["closed_to"]:
        errors["to"] = _("The end of the period comes before its start.")
        values.pop("closed_to")
    if errors and strict:
        raise EvidenceError(errors)
    return QueueFilters(**values)


def _utc_start_of(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time.min, tzinfo=tz).astimezone(UTC).replace(tzinfo=None)


def not_yet_audited() -> ColumnElement[bool]:
    """Closed or withdrawn, and this closure not audited (a reopened case comes back)."""
    return and_(
        Case.state.in_(TERMINAL_STATES),
        or_(Case.audited_closed_at.is_(None), Case.audited_closed_at != Case.closed_at),
    )


def queue_clause(sample: SampleSettings) -> ColumnElement[bool]:
    """The SQL of the queue: not yet audited, and always-in or drawn in the sample."""
    drawn = sample_bucket_sql(Case.id, sample.salt) < literal_column(str(sample.percent))
    return and_(not_yet_audited(), or_(Case.must_audit.is_(True), drawn))


def queue_select(filters: QueueFilters, sample: SampleSettings, tz: ZoneInfo) -> Select[tuple[Case]]:
    """The queue's cases, unordered: callers page it by (closed_at, id), oldest closure first."""
    stmt = select(Case).where(queue_clause(sample))
    if filters.closed_from:
        stmt = stmt.where(Case.closed_at >= _utc_start_of(filters.closed_from, tz))
    if filters.closed_to:
        stmt = stmt.where(Case.closed_at < _utc_start_of(filters.closed_to + timedelta(days=1), tz))
    if filters.owner_id:
        stmt = stmt.where(Case.owner_id == filters.owner_id)
    if filters.category:
        stmt = stmt.where(Case.category == filters.category)
    if filters.product:
        stmt = stmt.where(Case.product.icontains(filters.product, autoescape=True))
    return stmt


def in_queue(s: Session, case: Case, sample: SampleSettings) -> bool:
    return bool(s.scalar(select(Case.id).where(Case.id == case.id, queue_clause(sample))))


def queue_reasons(s: Session, cases: Sequence[Case], sample: SampleSettings) -> dict[int, list[str]]:
    """Why each case is in the queue, read from its history (one query for the whole page)."""
    out: dict[int, list[str]] = {c.id: [] for c in cases}
    if not cases:
        return out
    rows = s.scalars(
        select(Event)
        .where(
            Event.case_id.in_(list(out)),
            Event.action.in_(["step_completed", "customer_answered", *_REASON_ACTIONS]),
        )
        .order_by(Event.case_id, Event.seq)
    )
    found: dict[int, set[str]] = {cid: set() for cid in out}
    for row in rows:
        ev = HistoryEvent.of(row)
        if ev.action in _REASON_ACTIONS:
            found[row.case_id].add(_REASON_ACTIONS[ev.action])
        elif is_answer(ev):
            if ev.step == "verify" and ev.evidence.get("satisfaction") == "dissatisfied":
                found[row.case_id].add("dissatisfied")
            if not by_customer(ev):
                found[row.case_id].add("staff_recorded")
    for case in cases:
        reasons = [code for code in REASONS if code in found[case.id]]
        if case.must_audit and not reasons:
            reasons.append("flagged")
        if not case.must_audit and sample.includes(case.id):
            reasons.append("sample")
        out[case.id] = reasons
    return out


# --- the checklist --------------------------------------------------------------------
def update_interval() -> timedelta:
    """How often the owner must update the customer while the case is open (one definition)."""
    from complaints.services.updates import update_cadence

    return update_cadence()


def history_of(s: Session, case: Case) -> list[HistoryEvent]:
    rows = s.scalars(select(Event).where(Event.case_id == case.id).order_by(Event.seq))
    return [HistoryEvent.of(row) for row in rows]


def checklist_for(s: Session, case: Case, now: datetime | None = None) -> list[ItemResult]:
    """The automatic checklist of a case, from its history (and its row for the record)."""
    window = current_app.config.get("FOLLOW_UP_WINDOW", timedelta(days=7))
    facts = Facts(
        events=history_of(s, case),
        case=case,
        chain_problem=verify_case(s, case, window),
        update_interval=update_interval(),
        now=now if case.is_open else None,
    )
    return evaluate(facts)


def audits_of(s: Session, case: Case) -> list[Audit]:
    """The case's audits, newest first."""
    return list(s.scalars(select(Audit).where(Audit.case_id == case.id).order_by(Audit.id.desc())))


# --- the verdict ----------------------------------------------------------------------
@dataclass(frozen=True)
class VerdictInput:
    verdict: str
    findings: tuple[tuple[str, str], ...]  # (checklist item, text)
    reopen_to: str | None


def _finding_pairs(raw: Any, errors: dict[str, str]) -> list[tuple[str, str]]:
    """``[{item, text}]`` or ``{item: text}`` (a blank text in the mapping means no finding)."""
    pairs: list[tuple[str, str]] = []
    if raw is None:
        return pairs
    if isinstance(raw, Mapping):
        entries: Iterable[tuple[str, Any, Any]] = (
            (f"findings.{item}", item, text) for item, text in raw.items() if not _blank(text)
        )
    elif isinstance(raw, list):
        entries = []
        for i, entry in enumerate(raw):
            if not isinstance(entry, Mapping) or set(entry) - {"item", "text"}:
                errors[f"findings[{i}]"] = _("Each finding is an object with “item” and “text”.")
                continue
            entries.append((f"findings[{i}]", entry.get("item"), entry.get("text")))
    else:
        errors["findings"] = _("Give the findings as a list of {item, text} or an object item → text.")
        return pairs
    for where, item, text in entries:
        if item not in ITEM_CODES:
            errors[where] = _("Not a checklist item: %(item)s.", item=str(item))
            continue
        try:
            pairs.append((item, validate_reason(text, "text")))
        except EvidenceError as e:
            errors[where] = e.fields["text"]
    if len(pairs) > MAX_FINDINGS:
        errors["findings"] = _("At most %(n)d findings.", n=MAX_FINDINGS)
    return pairs


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def validate_verdict(data: Mapping[str, Any]) -> VerdictInput:
    """One check of a verdict for the form and the API alike; EvidenceError names each field."""
    errors = {key: _("Unknown field.") for key in data if key not in VERDICT_FIELDS}
    verdict = data.get("verdict")
    if verdict not in VERDICTS:
        errors["verdict"] = _("Choose “compliant” or “findings”.")
    pairs = _finding_pairs(data.get("findings"), errors)
    reopen_to = data.get("reopen_to") or None
    if reopen_to is not None and reopen_to not in REOPEN_TARGETS:
        errors["reopen_to"] = _("Choose one of the listed steps, or leave it empty.")
    if verdict == "findings" and not pairs and not any(k.startswith("findings") for k in errors):
        errors["findings"] = _("Write at least one finding against a checklist item.")
    if verdict == "compliant":
        if pairs:
            errors["findings"] = _("A compliant verdict has no findings.")
        if reopen_to is not None:
            errors["reopen_to"] = _("Only a verdict with findings reopens the case.")
    if errors:
        raise EvidenceError(errors)
    return VerdictInput(str(verdict), tuple(pairs), reopen_to)


def _flush(s: Session) -> None:
    """Write the case as a new version: of two auditors of the same closure, one wins."""
    try:
        s.flush()
    except StaleDataError:
        s.rollback()
        raise Stale(_("Someone else changed the case at the same time; reload and try again.")) from None


def record_audit(s: Session, case: Case, auditor: User, inp: VerdictInput, now: datetime) -> Audit:
    """Record the verdict on the case's current closure, and reopen it to a step if asked."""
    if case.state not in TERMINAL_STATES or case.closed_at is None:
        raise Conflict(_("Only a closed or withdrawn case can be audited."), "wrong_state")
    if case.audited_closed_at is not None and case.audited_closed_at == case.closed_at:
        raise Conflict(_("This closure of the case has been audited already."), "already_audited")
    if inp.reopen_to is not None and case.state != "closed":
        raise EvidenceError({"reopen_to": _("A withdrawn case cannot be reopened.")})
    results = checklist_for(s, case)
    clock_before = deadlines.before_move(s, case)  # read everything before changing anything
    closed_at = case.closed_at
    actor = Actor.staff(auditor.id)
    case.audited_closed_at = closed_at
    reopened_from = None
    if inp.reopen_to is not None:
        try:
            reopened_from, _dest = fire(
                case, "reopen", actor=actor, now=now, evidence={"reopen_to": inp.reopen_to}
            )
        except WorkflowRefused as e:
            raise Conflict(e.message, "wrong_state") from None
        # A reopened case is audited again when it closes again, whatever the sample says.
        case.must_audit = True
        case.pending_step = case.pending_evidence = None
        deadlines.set_clock(s, case, now, clock_before)  # the step's clock starts again
    _flush(s)
    deadlines.record_clock(s, case, actor, now, clock_before)
    findings = [{"item": item, "text": text} for item, text in inp.findings]
    audit = Audit(
        case_id=case.id,
        auditor_id=auditor.id,
        verdict=inp.verdict,
        findings=findings,
        checklist=[r.to_json() for r in results],
        reopen_to=inp.reopen_to,
        case_closed_at=closed_at,
        created_at=now,
    )
    s.add(audit)
    s.flush()
    append_event(
        s,
        case,
        "case_audited",
        actor,
        {
            "audit_id": audit.id,
            "verdict": inp.verdict,
            "findings": findings,
            "reopen_to": inp.reopen_to,
            "case_closed_at": closed_at.isoformat(timespec="microseconds"),
            "checklist": {r.code: r.status for r in results},
        },
        now,
    )
    if inp.reopen_to is not None:
        append_event(
            s,
            case,
            "case_reopened",
            actor,
            {
                "from": reopened_from,
                "to": case.state,
                "evidence": {"reopen_to": inp.reopen_to},
                "audit_id": audit.id,
            },
            now,
        )
    return audit


__all__ = [
    "REASONS",
    "VERDICTS",
    "QueueFilters",
    "SampleSettings",
    "VerdictInput",
    "audits_of",
    "checklist_for",
    "in_queue",
    "parse_queue_filters",
    "queue_reasons",
    "queue_select",
    "record_audit",
    "sample_bucket",
    "sample_bucket_sql",
    "sample_settings",
    "validate_verdict",
]
