"""The staff forms: generated from evidence.py's field specs, and strict about what they accept.

Field values are kept as the text that was typed: evidence.validate_step / validate_intake
are the one check, for forms and API alike, so the WTForms fields carry no validators of
their own (only the CSRF token is checked here).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from functools import cache
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    Field as WTField,
)
from wtforms import (
    FieldList,
    Form,
    FormField,
    HiddenField,
    PasswordField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import InputRequired
from wtforms.widgets import DateInput, DateTimeLocalInput, EmailInput, NumberInput, TelInput

try:  # WTForms 3.3 deprecates (value, label) tuples
    from wtforms.fields.choices import SelectChoice
except ImportError:  # pragma: no cover - older WTForms
    SelectChoice = None  # type: ignore[assignment,misc]

from complaints.evidence import INTAKE_FIELDS, STEP_FIELDS, Field

MAX_ACTIONS = 50
BLANK_ACTION_ROWS = 3
LANGUAGE_NAMES = {"en": "English", "zh_CN": "简体中文"}


def option(value: str, label: Any) -> Any:
    """One <option> of a SelectField, in the shape this WTForms version wants."""
    return SelectChoice(value, label) if SelectChoice is not None else (value, label)


class StrictForm(FlaskForm):
    """A form that can name any posted field it does not define (owner_id, owner …)."""

    def unknown_fields(self, posted: Mapping[str, Any]) -> list[str]:
        exact: set[str] = {"csrf_token"}
        lists: list[tuple[re.Pattern[str], int]] = []
        for field in self:
            if isinstance(field, FieldList):
                # Every row has the same sub-fields; min_entries guarantees a first row.
                sub = "|".join(re.escape(f.short_name) for f in field.entries[0].form)
                pattern = re.compile(rf"{re.escape(field.name)}-(\d+)-(?:{sub})")
                lists.append((pattern, field.max_entries or MAX_ACTIONS))
            else:
                exact.add(field.name)
        unknown: list[str] = []
        indices: dict[re.Pattern[str], set[str]] = {}
        for key in posted:
            if key in exact:
                continue
            for pattern, limit in lists:
                m = pattern.fullmatch(key)
                if m:
                    seen = indices.setdefault(pattern, set())
                    seen.add(m.group(1))
                    if len(seen) <= limit:
                        break
            else:
                unknown.append(key)
        return unknown


# --- account and small action forms ---------------------------------------------------
class LoginForm(StrictForm):
    email = StringField(_l("Email"), validators=[InputRequired()], widget=EmailInput())
    password = PasswordField(_l("Password"), validators=[InputRequired()])
    next = HiddenField()


class LanguageForm(StrictForm):
    locale = SelectField(
        _l("Language"), choices=[option(k, v) for k, v in LANGUAGE_NAMES.items()], validate_choice=False
    )
    next = HiddenField()


class ButtonForm(StrictForm):
    """Nothing but the CSRF token (claim, log out): the actor is whoever is logged in."""


class NoteForm(StrictForm):
    body = TextAreaField(_l("Internal note"))


class WithdrawForm(StrictForm):
    reason = TextAreaField(_l("Reason for withdrawing"))


class AssistantForm(StrictForm):
    user_id = SelectField(_l("Colleague"), choices=[], validate_choice=False)


# --- generated from the field specs -------------------------------------------------
class ActionRowForm(Form):
    """One action of the act step (a sub-form: the outer form carries the CSRF token)."""

    description = TextAreaField(_l("What was done"))
    done_at = StringField(_l("When it was done"), widget=DateTimeLocalInput())


def _choices(spec: Field) -> list[tuple[str, Any]]:
    # "via" offers the customer link too: chosen with the answer left empty, it sends the question.
    choices = spec.choices or {}
    return [option("", _l("— choose —")), *(option(k, v) for k, v in choices.items())]


def _wt_field(spec: Field) -> WTField:
    """The WTForms field for one spec: the kind decides the widget, nothing else."""
    kw: dict[str, Any] = {"description": spec.help or ""}
    if spec.kind == "choice":
        return SelectField(spec.label, choices=_choices(spec), validate_choice=False, **kw)
    if spec.kind == "text":
        return TextAreaField(spec.label, render_kw={"maxlength": spec.max_length}, **kw)
    if spec.kind == "date":
        return StringField(spec.label, widget=DateInput(), **kw)
    if spec.kind == "datetime":
        return StringField(spec.label, widget=DateTimeLocalInput(), **kw)
    if spec.kind == "int":
        return StringField(spec.label, widget=NumberInput(min=spec.minimum, max=spec.maximum, step=1), **kw)
    if spec.kind == "decimal":
        return StringField(spec.label, widget=NumberInput(min=0, step="0.01"), **kw)
    if spec.kind == "actions":
        return FieldList(
            FormField(ActionRowForm),
            spec.label,
            min_entries=BLANK_ACTION_ROWS,
            max_entries=MAX_ACTIONS,
            **kw,
        )
    widget = {"email": EmailInput(), "phone": TelInput()}.get(spec.kind)
    extra = {"widget": widget} if widget else {}
    return StringField(spec.label, render_kw={"maxlength": spec.max_length}, **extra, **kw)


@cache
def step_form_class(step: str) -> type[StrictForm]:
    """The form for one step, built once from STEP_FIELDS, plus the version it was loaded at."""
    attrs: dict[str, Any] = {spec.name: _wt_field(spec) for spec in STEP_FIELDS[step]}
    attrs["version"] = HiddenField()
    return type(f"{step.title()}StepForm", (StrictForm,), attrs)


@cache
def intake_form_class() -> type[StrictForm]:
    attrs: dict[str, Any] = {spec.name: _wt_field(spec) for spec in INTAKE_FIELDS}
    return type("IntakeForm", (StrictForm,), attrs)


def intake_defaults() -> dict[str, str]:
    return {"severity": "normal"}


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def step_data(form: StrictForm, step: str) -> dict[str, Any]:
    """What validate_step expects: the typed values, action rows as a list, blank rows dropped."""
    data: dict[str, Any] = {}
    for spec in STEP_FIELDS[step]:
        field = form[spec.name]
        if spec.kind == "actions":
            rows = []
            for entry in field.entries:
                desc, done = entry.form.description.data, entry.form.done_at.data
                if _blank(desc) and _blank(done):
                    continue
                rows.append({"description": desc or "", "done_at": done or ""})
            data[spec.name] = rows
        else:
            data[spec.name] = field.data
    return data


def intake_data(form: StrictForm) -> dict[str, Any]:
    return {spec.name: form[spec.name].data for spec in INTAKE_FIELDS}


def spec_fields(form: StrictForm, specs: tuple[Field, ...]) -> Iterator[tuple[Field, WTField]]:
    """Pairs of (spec, bound field), in the spec's order, for the templates."""
    for spec in specs:
        yield spec, form[spec.name]
