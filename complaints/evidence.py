"""What each step must record, and what intake needs: validated once, for forms and API alike.

``validate_step`` and ``validate_intake`` take plain mappings (a parsed JSON body or a
form's data), and return cleaned values or raise ``EvidenceError`` with a message per
field. Both the HTML forms and the API are generated from, and checked by, the specs here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from complaints import vocab
from complaints.workflow import CUSTOMER_STEPS


class EvidenceError(Exception):
    """Invalid or missing input: one message per field, nothing changed."""

    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in fields.items()))
        self.fields = fields


@dataclass(frozen=True)
class Field:
    name: str
    kind: str  # text | line | choice | date | datetime | int | decimal | actions | email | phone
    label: Any
    required: bool = True
    choices: Mapping[str, Any] | None = None
    max_length: int = 4000
    minimum: int | None = None
    maximum: int | None = None
    help: Any = None
    # Shown in forms only when another field has one of these values.
    depends: tuple[str, tuple[str, ...]] | None = field(default=None)


def _text(name: str, label: Any, required: bool = True, max_length: int = 4000, **kw: Any) -> Field:
    return Field(name, "text", label, required, max_length=max_length, **kw)


def _choice(name: str, label: Any, choices: Mapping[str, Any], required: bool = True) -> Field:
    return Field(name, "choice", label, required, choices=choices)


VIA = Field(
    "via",
    "choice",
    _l("Channel of the customer's answer"),
    choices=vocab.METHODS,
    help=_l("To send the question to the customer, choose “Customer link” and leave their answer empty."),
)

STEP_FIELDS: dict[str, tuple[Field, ...]] = {
    "apologise": (
        _choice("method", _l("How the apology was made"), vocab.STAFF_METHODS),
        _text("apology", _l("The words of the apology")),
        Field("apologised_at", "datetime", _l("When (leave empty for now)"), required=False),
    ),
    "listen": (
        _text("account", _l("The customer's account, in their own words"), max_length=20000),
        _text("expectation", _l("What the customer expects")),
        _choice("temperament", _l("The customer's temperament"), vocab.TEMPERAMENTS),
    ),
    "confirm": (
        _text("restatement", _l("Your restatement of the complaint")),
        _choice("customer_response", _l("The customer's answer"), vocab.CONFIRM_RESPONSES, False),
        _text(
            "correction",
            _l("The customer's correction"),
            required=False,
            depends=("customer_response", ("corrected",)),
        ),
        VIA,
    ),
    "analyse": (
        _choice("root_cause_category", _l("Root-cause category"), vocab.ROOT_CAUSE_CATEGORIES),
        _text("root_cause", _l("Root cause")),
        _text("escape_point", _l("Escape point (why it was not caught earlier)"), required=False),
    ),
    "agree": (
        _choice("remedy", _l("Remedy"), vocab.REMEDIES),
        _text("remedy_detail", _l("Remedy details")),
        Field(
            "amount",
            "decimal",
            _l("Amount"),
            required=False,
            help=_l("The sum of money offered, such as 150.00; required for compensation."),
            depends=("remedy", ("compensation",)),
        ),
        Field("due_date", "date", _l("Agreed completion date")),
        _choice("customer_response", _l("The customer's answer"), vocab.AGREE_RESPONSES, False),
        _text(
            "reason",
            _l("Why the customer declined"),
            required=False,
            depends=("customer_response", ("declined",)),
        ),
        VIA,
    ),
    "act": (
        Field(
            "actions",
            "actions",
            _l("Actions taken"),
            help=_l("One line per action; each needs a description and when it was done."),
        ),
    ),
    "prevent": (
        _choice("department", _l("Department the preventive action went to"), vocab.DEPARTMENTS),
        _text("preventive_action", _l("Preventive action"), required=False),
        _text(
            "none_reason",
            _l("Why there is no systemic cause"),
            required=False,
            depends=("department", ("none",)),
        ),
    ),
    "verify": (
        _choice("satisfaction", _l("Customer satisfaction"), vocab.SATISFACTION, False),
        Field("score", "int", _l("Score (1-5)"), required=False, minimum=1, maximum=5),
        _text("comment", _l("The customer's comment"), required=False),
        VIA,
    ),
}

# The field that carries the customer's answer, for the steps that need one.
ANSWER_FIELD = {"confirm": "customer_response", "agree": "customer_response", "verify": "satisfaction"}

INTAKE_FIELDS: tuple[Field, ...] = (
    Field("customer_name", "line", _l("Customer name"), max_length=200),
    Field("customer_phone", "phone", _l("Customer phone"), required=False, max_length=40),
    Field("customer_email", "email", _l("Customer email"), required=False, max_length=254),
    _choice("channel", _l("Channel"), vocab.CHANNELS),
    Field("summary", "line", _l("Summary"), max_length=200),
    _text("description", _l("Description"), max_length=20000),
    Field("product", "line", _l("Product"), required=False, max_length=200),
    Field("serial_number", "line", _l("Serial number"), required=False, max_length=100),
    Field("purchase_date", "date", _l("Purchase date"), required=False),
    _choice("category", _l("Category"), vocab.CATEGORIES),
    _choice("severity", _l("Severity"), vocab.SEVERITIES),
)


@dataclass
class Context:
    """What validation needs to know of the outside world."""

    now: datetime  # naive UTC
    tz: ZoneInfo

    @property
    def today(self) -> date:
        return self.now.replace(tzinfo=UTC).astimezone(self.tz).date()


# --- single values --------------------------------------------------------------
class _Bad(Exception):
    pass


def _clean_str(value: Any, f: Field) -> str:
    if not isinstance(value, str):
        if isinstance(value, int | float) and not isinstance(value, bool):
            try:
                value = str(value)
            except ValueError:  # an integer too long to print
                raise _Bad(_("Must be text.")) from None
        else:
            raise _Bad(_("Must be text."))
    if "\x00" in value or not _encodable(value):
        raise _Bad(_("Contains characters that are not allowed."))
    value = value.replace("\r\n", "\n").replace("\r", "\n").strip()
    if f.kind != "text":
        value = " ".join(value.split())
    if len(value) > f.max_length:
        raise _Bad(_("At most %(n)d characters.", n=f.max_length))
    return value


def _encodable(value: str) -> bool:
    """False for text with lone surrogates (possible in JSON), which no database can store."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _parse_date(value: Any) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise _Bad(_("Must be a date (YYYY-MM-DD)."))
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise _Bad(_("Must be a date (YYYY-MM-DD).")) from None


# An amount of money: up to ten digits before the point and two after it, above zero.
AMOUNT_RE = re.compile(r"[0-9]{1,10}(\.[0-9]{1,2})?")


def _parse_amount(value: Any) -> str:
    """The amount as text with two decimals ("150.00"): JSON keeps it exact that way."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _Bad(_("Must be an amount, such as 150.00."))
    if isinstance(value, str):
        text = value.strip()
        if not AMOUNT_RE.fullmatch(text):
            raise _Bad(_("Must be an amount, such as 150.00."))
    else:
        text = str(value)
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise _Bad(_("Must be an amount, such as 150.00.")) from None
    if not amount.is_finite() or amount >= Decimal(10) ** 10:
        raise _Bad(_("Must be an amount, such as 150.00."))
    if amount <= 0:
        raise _Bad(_("Must be more than zero."))
    if amount != amount.quantize(Decimal("0.01")):
        raise _Bad(_("At most two decimal places."))
    return f"{amount.quantize(Decimal('0.01')):f}"


def _parse_datetime(value: Any, ctx: Context) -> datetime:
    """Naive UTC from ISO text; a time without offset is in the deployment's time zone."""
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, str):
        text = value.strip()
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        try:
            dt = datetime.fromisoformat(text)
        except ValueError:
            raise _Bad(_("Must be a date and time (YYYY-MM-DDTHH:MM).")) from None
    else:
        raise _Bad(_("Must be a date and time (YYYY-MM-DDTHH:MM)."))
    if dt.year < 1900:
        raise _Bad(_("Must be a date and time (YYYY-MM-DDTHH:MM)."))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=ctx.tz)
    try:
        return dt.astimezone(UTC).replace(tzinfo=None, microsecond=0)
    except OverflowError:  # e.g. 9999-12-31T23:00-05:00 is past year 9999 in UTC
        raise _Bad(_("Must be a date and time (YYYY-MM-DDTHH:MM).")) from None


def _clean_value(f: Field, value: Any, ctx: Context) -> Any:
    if f.kind in ("text", "line"):
        return _clean_str(value, f)
    if f.kind == "email":
        text = _clean_str(value, f).lower()
        if text and ("@" not in text or " " in text or text.startswith("@") or text.endswith("@")):
            raise _Bad(_("Not an email address."))
        return text
    if f.kind == "phone":
        text = _clean_str(value, f)
        if text and sum(c.isdigit() for c in text) < 3:
            raise _Bad(_("Not a phone number."))
        if any(not (c.isdigit() or c in " +-()./#ext") for c in text):
            raise _Bad(_("Not a phone number."))
        return text
    if f.kind == "choice":
        assert f.choices is not None
        if not isinstance(value, str) or value not in f.choices:
            raise _Bad(_("Choose one of the listed values."))
        return value
    if f.kind == "int":
        if isinstance(value, bool):
            raise _Bad(_("Must be a whole number."))
        if isinstance(value, str):
            try:
                value = int(value.strip())
            except ValueError:
                raise _Bad(_("Must be a whole number.")) from None
        if not isinstance(value, int):
            raise _Bad(_("Must be a whole number."))
        if (f.minimum is not None and value < f.minimum) or (f.maximum is not None and value > f.maximum):
            raise _Bad(_("Must be between %(a)d and %(b)d.", a=f.minimum or 0, b=f.maximum or 0))
        return value
    if f.kind == "decimal":
        return _parse_amount(value)
    if f.kind == "date":
        return _parse_date(value).isoformat()
    if f.kind == "datetime":
        return _parse_datetime(value, ctx).isoformat()
    raise AssertionError(f.kind)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _clean_fields(
    fields: tuple[Field, ...], data: Mapping[str, Any], ctx: Context, errors: dict[str, str]
) -> dict[str, Any]:
    known = {f.name for f in fields}
    for key in data:
        if key not in known:
            errors[key] = _("Unknown field.")
    out: dict[str, Any] = {}
    for f in fields:
        if f.kind == "actions":
            continue
        value = data.get(f.name)
        if _blank(value):
            if f.required:
                errors[f.name] = _("This field is required.")
            continue
        try:
            out[f.name] = _clean_value(f, value, ctx)
        except _Bad as e:
            errors[f.name] = str(e.args[0])
            continue
        if out[f.name] == "" and f.required:
            errors[f.name] = _("This field is required.")
    return {k: v for k, v in out.items() if v != ""}


def _clean_actions(value: Any, ctx: Context, errors: dict[str, str]) -> list[dict[str, str]]:
    if not isinstance(value, list) or not value:
        errors["actions"] = _("Give at least one action.")
        return []
    if len(value) > 50:
        errors["actions"] = _("At most %(n)d actions.", n=50)
        return []
    desc = Field("description", "text", "", max_length=4000)
    out = []
    for i, item in enumerate(value, start=1):
        if not isinstance(item, Mapping) or set(item) - {"description", "done_at"}:
            errors["actions"] = _("Action %(i)d: give a description and when it was done.", i=i)
            return []
        try:
            if _blank(item.get("description")):
                raise _Bad(_("a description is required."))
            text = _clean_str(item["description"], desc)
            if _blank(item.get("done_at")):
                raise _Bad(_("when it was done is required."))
            done = _parse_datetime(item["done_at"], ctx)
            if done > ctx.now + timedelta(minutes=5):
                raise _Bad(_("it cannot be done in the future."))
        except _Bad as e:
            errors["actions"] = _("Action %(i)d: %(msg)s", i=i, msg=str(e.args[0]))
            return []
        out.append({"description": text, "done_at": done.isoformat()})
    return out


@dataclass
class StepInput:
    """Cleaned evidence, and whether the question goes to the customer instead."""

    evidence: dict[str, Any]
    send_to_customer: bool = False

    @property
    def staff_recorded_answer(self) -> bool:
        return not self.send_to_customer


def validate_step(step: str, data: Mapping[str, Any], ctx: Context) -> StepInput:
    """The one check of a step's evidence, for a staff member completing it."""
    return _check_step(step, data, ctx, by_customer=False)


def _check_step(step: str, data: Mapping[str, Any], ctx: Context, *, by_customer: bool) -> StepInput:
    """The rules of a step's evidence; by_customer: the customer's own answer on their link."""
    fields = STEP_FIELDS[step]
    errors: dict[str, str] = {}
    ev = _clean_fields(fields, data, ctx, errors)
    if step == "act":
        ev["actions"] = _clean_actions(data.get("actions"), ctx, errors)

    send = False
    if step in CUSTOMER_STEPS:
        answer = ANSWER_FIELD[step]
        if ev.get("via") == vocab.CUSTOMER_LINK:
            if by_customer:
                if answer not in ev and answer not in errors:
                    errors[answer] = _("This field is required.")
            elif answer in ev:
                errors["via"] = _(
                    "Only the customer can answer on the customer link; record the channel "
                    "the customer used, or leave the answer empty to send the question."
                )
            else:
                send = True
        elif answer not in ev and answer not in errors:
            errors[answer] = _("Record the customer's answer, or send it on the customer link.")
        if step == "verify" and ev.get("satisfaction") == "no_response":
            errors.pop("via", None)
            ev.pop("via", None)
            if "score" in ev:
                errors["score"] = _("No score without a response.")
    if step == "apologise" and "apologised_at" in ev:
        if datetime.fromisoformat(ev["apologised_at"]) > ctx.now + timedelta(minutes=5):
            errors["apologised_at"] = _("The apology cannot be in the future.")
    if step == "confirm" and ev.get("customer_response") == "corrected" and "correction" not in ev:
        errors.setdefault("correction", _("Write down what the customer corrected."))
    if step == "agree":
        # (The customer answers the proposal as it was sent, when its date was checked.)
        if "due_date" in ev and not by_customer and date.fromisoformat(ev["due_date"]) < ctx.today:
            errors["due_date"] = _("The date cannot be in the past.")
        if ev.get("customer_response") == "declined" and "reason" not in ev:
            errors.setdefault("reason", _("Write down why the customer declined."))
        if ev.get("remedy") == "compensation" and "amount" not in ev:
            errors.setdefault("amount", _("Give the amount of the compensation."))
    if step == "prevent":
        if ev.get("department") == "none":
            if "none_reason" not in ev:
                errors.setdefault("none_reason", _("Explain why there is no systemic cause."))
        elif "department" in ev and "preventive_action" not in ev:
            errors.setdefault("preventive_action", _("Describe the preventive action."))
    if step == "verify" and ev.get("satisfaction") in ("satisfied", "neutral", "dissatisfied"):
        if "score" not in ev and "score" not in errors:
            errors["score"] = _("Give the customer's score from 1 to 5.")
    if errors:
        raise EvidenceError(errors)
    return StepInput(ev, send)


# What the remedy policy (services/remedies.py) adds to a proposal when it is offered, so the
# audit can judge it; carried into the customer's answer as it was sent.
POLICY_KEYS = ("within_policy", "beyond_policy", "approval_id")


# --- the customer's own answer, on their link ----------------------------------------
# What the customer answers at each step: their name for it (API and link form) -> the
# evidence field it fills. The rules stay those of STEP_FIELDS and _check_step.
CUSTOMER_ANSWER_FIELDS: dict[str, dict[str, str]] = {
    "confirm": {"response": "customer_response", "correction": "correction"},
    "agree": {"response": "customer_response", "reason": "reason"},
    "verify": {"satisfaction": "satisfaction", "score": "score", "comment": "comment"},
}
# Said to the customer when they leave an answer out.
_CUSTOMER_BLANK = {
    "response": _l("Please choose an answer."),
    "satisfaction": _l("Please choose an answer."),
    "score": _l("Please choose a score from 1 to 5."),
    "correction": _l("Please tell us what we should correct."),
    "reason": _l("Please tell us why."),
}


def customer_choices(step: str, name: str) -> dict[str, Any]:
    """The codes the customer may give for one answer: staff's choices less silence."""
    evidence_name = CUSTOMER_ANSWER_FIELDS[step][name]
    spec = next(f for f in STEP_FIELDS[step] if f.name == evidence_name)
    return {k: v for k, v in (spec.choices or {}).items() if k != "no_response"}


def customer_answer_step(answer: Mapping[str, Any]) -> str | None:
    """Which question an answer is for, from what it says (None when it cannot tell)."""
    if "satisfaction" in answer:
        return "verify"
    response = answer.get("response")
    for step in ("confirm", "agree"):
        if isinstance(response, str) and response in customer_choices(step, "response"):
            return step
    return None


def validate_customer_answer(
    step: str, pending: Mapping[str, Any], answer: Mapping[str, Any], ctx: Context
) -> StepInput:
    """The customer's answer on their link: the question as it was sent plus their answer,
    via the customer link, checked by the step's own rules; errors use the customer's names."""
    names = CUSTOMER_ANSWER_FIELDS[step]
    errors: dict[str, str] = {}
    data: dict[str, Any] = {
        k: v for k, v in pending.items() if k not in names.values() and k not in POLICY_KEYS
    }
    data["via"] = vocab.CUSTOMER_LINK
    for key, value in answer.items():
        if key not in names:
            errors[key] = _("Unknown field.")
        else:
            data[names[key]] = value
    if step == "verify" and answer.get("satisfaction") == "no_response":
        errors["satisfaction"] = _("Choose one of the listed values.")
    try:
        inp = _check_step(step, data, ctx, by_customer=True)
        inp.evidence.update({k: pending[k] for k in POLICY_KEYS if k in pending})
    except EvidenceError as e:
        back = {v: k for k, v in names.items()}
        found = {}
        for key, message in e.fields.items():
            name = back.get(key, key)
            found[name] = (
                str(_CUSTOMER_BLANK[name])
                if name in _CUSTOMER_BLANK and _blank(answer.get(name))
                else message
            )
        errors = {**found, **errors}
        inp = StepInput({})
    if errors:
        raise EvidenceError(errors)
    return inp


def validate_intake(data: Mapping[str, Any], ctx: Context) -> dict[str, Any]:
    """A new case's fields; a customer needs a phone or an email to be reached again."""
    errors: dict[str, str] = {}
    out = _clean_fields(INTAKE_FIELDS, data, ctx, errors)
    if not out.get("customer_phone") and not out.get("customer_email"):
        if "customer_phone" not in errors and "customer_email" not in errors:
            errors["customer_phone"] = _("Give a phone number or an email address.")
    if "purchase_date" in out and date.fromisoformat(out["purchase_date"]) > ctx.today:
        errors["purchase_date"] = _("The purchase date cannot be in the future.")
    if errors:
        raise EvidenceError(errors)
    return out


def validate_fields(fields: tuple[Field, ...], data: Mapping[str, Any], ctx: Context) -> dict[str, Any]:
    """Any other form's fields (a remedy approval, an interim measure) by the same rules."""
    errors: dict[str, str] = {}
    out = _clean_fields(fields, data, ctx, errors)
    if errors:
        raise EvidenceError(errors)
    return out


def validate_reason(value: Any, name: str = "reason") -> str:
    f = Field(name, "text", "", max_length=4000)
    if _blank(value):
        raise EvidenceError({name: _("This field is required.")})
    try:
        return _clean_str(value, f)
    except _Bad as e:
        raise EvidenceError({name: str(e.args[0])}) from None
