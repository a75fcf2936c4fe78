"""THE remedy policy: what the customer is entitled to, and whether an offer stays within it.

The default is China's three guarantees (三包, DOMAIN.md §6) for a product with a purchase
date, counted in days from the sale to the day the complaint was received (day 0 is the day
of sale):

- up to ``return_days`` (7): a performance fault entitles return (refund), exchange or repair;
- up to ``exchange_days`` (15): exchange or repair;
- up to ``warranty_days`` (365): repair; and exchange or return once ``repairs_before_exchange``
  (2) repairs of the same product have not fixed it;
- always: an explanation, an apology, a repair (past the warranty, or with no purchase date,
  repair is the house's standard remedy rather than a guarantee), and compensation up to
  ``compensation_limit`` (200.00).

Without a purchase date the three guarantees cannot be worked out: anything beyond repair,
explanation, apology and compensation within the limit needs a quality approval, as does
"other" always. The functions here are pure; services/remedies.py loads the facts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from flask_babel import lazy_gettext as _l

from complaints import vocab

# The three guarantees, strongest first (return, exchange, repair).
GUARANTEES = ("refund", "exchange", "repair")
# Within policy whatever the dates.
ALWAYS = ("explanation", "apology")
COMPENSATION = "compensation"


@dataclass(frozen=True)
class PolicySettings:
    """The numbers of the policy; quality managers may change them (services/remedies.py)."""

    return_days: int = 7
    exchange_days: int = 15
    warranty_days: int = 365
    repairs_before_exchange: int = 2
    compensation_limit: Decimal = Decimal("200.00")

    @classmethod
    def from_mapping(
        cls, values: Mapping[str, Any] | None, base: PolicySettings | None = None
    ) -> PolicySettings:
        """Settings from stored or configured values; unknown keys and bad values keep the base."""
        out = base or cls()
        for f in fields(cls):
            raw = (values or {}).get(f.name)
            if raw is None or isinstance(raw, bool):
                continue
            try:
                value: Any = (
                    Decimal(str(raw)).quantize(Decimal("0.01"))
                    if f.name == "compensation_limit"
                    else int(raw)
                )
            except (ValueError, TypeError, InvalidOperation):
                continue
            if value < 0:
                continue
            out = replace(out, **{f.name: value})
        return out

    def to_mapping(self) -> dict[str, Any]:
        """As stored in the settings table (JSON): the amount as text, exact."""
        return {
            f.name: str(getattr(self, f.name)) if f.name == "compensation_limit" else getattr(self, f.name)
            for f in fields(self)
        }


# Why a remedy is, or is not, within policy: one text per code, filled with the values.
REASONS: dict[str, Any] = {
    "always": _l("Always within policy."),
    "return_period": _l("Within %(limit)d days of sale (day %(days)d): a performance fault entitles return."),
    "return_over": _l("Return only within %(limit)d days of sale; this is day %(days)d."),
    "exchange_period": _l(
        "Within %(limit)d days of sale (day %(days)d): a performance fault entitles exchange."
    ),
    "exchange_over": _l(
        "Exchange only within %(limit)d days of sale, or after %(repairs)d repairs in the warranty; "
        "this is day %(days)d with %(count)d repairs so far."
    ),
    "repairs_failed": _l(
        "%(count)d repairs in the warranty have not fixed it (day %(days)d of %(warranty)d): "
        "exchange or return."
    ),
    "repair_warranty": _l(
        "In the warranty (day %(days)d of %(warranty)d): a performance fault entitles repair."
    ),
    "repair_after_warranty": _l(
        "Past the warranty (day %(days)d of %(warranty)d): repair is our standard remedy, not a guarantee."
    ),
    "repair_no_date": _l("No purchase date: repair is our standard remedy."),
    "no_date": _l(
        "No purchase date: the three guarantees cannot be worked out, so this needs a quality approval."
    ),
    "compensation_limit": _l("Within policy up to %(limit)s; more needs a quality approval."),
    "other": _l("Always needs a quality approval."),
}


@dataclass(frozen=True)
class Reason:
    """Why, as a code and its values (stored and compared), shown in the reader's language."""

    code: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return str(REASONS[self.code]) % dict(self.params) if self.params else str(REASONS[self.code])


@dataclass(frozen=True)
class Entitlement:
    """The remedies within policy for one case, and why each remedy is in or out."""

    remedies: frozenset[str]
    reasons: Mapping[str, Reason]
    # The three guarantees the law gives this customer (not the house's standard repair).
    guaranteed: frozenset[str]
    days: int | None  # from the sale to the complaint; None without a purchase date
    repairs: int
    compensation_limit: Decimal

    @property
    def known(self) -> bool:
        """Whether the three guarantees could be worked out (there is a purchase date)."""
        return self.days is not None

    def rows(self) -> list[tuple[str, Any, bool, Reason]]:
        """(remedy, label, within policy, reason) for every remedy, in the vocabulary's order."""
        return [
            (code, label, code in self.remedies, self.reasons[code]) for code, label in vocab.REMEDIES.items()
        ]


def entitlements(
    purchase_date: date | None, today: date, repairs_so_far: int, settings: PolicySettings
) -> Entitlement:
    """What the customer is entitled to, on ``today`` (the day the complaint was received)."""
    within: set[str] = {*ALWAYS, "repair", COMPENSATION}
    reasons: dict[str, Reason] = {code: Reason("always") for code in ALWAYS}
    reasons[COMPENSATION] = Reason("compensation_limit", {"limit": f"{settings.compensation_limit:.2f}"})
    reasons["other"] = Reason("other")
    if purchase_date is None:
        reasons["repair"] = Reason("repair_no_date")
        reasons["refund"] = reasons["exchange"] = Reason("no_date")
        return Entitlement(
            frozenset(within), reasons, frozenset(), None, repairs_so_far, settings.compensation_limit
        )

    days = max(0, (today - purchase_date).days)
    in_warranty = days <= settings.warranty_days
    repairs_failed = in_warranty and repairs_so_far >= settings.repairs_before_exchange
    values = {"days": days, "warranty": settings.warranty_days, "count": repairs_so_far}
    reasons["repair"] = Reason("repair_warranty" if in_warranty else "repair_after_warranty", values)
    if days <= settings.return_days:
        within |= {"refund", "exchange"}
        reasons["refund"] = Reason("return_period", {"limit": settings.return_days, "days": days})
        reasons["exchange"] = Reason("exchange_period", {"limit": settings.return_days, "days": days})
    elif repairs_failed:
        within |= {"refund", "exchange"}
        reasons["refund"] = reasons["exchange"] = Reason("repairs_failed", values)
    else:
        reasons["refund"] = Reason("return_over", {"limit": settings.return_days, "days": days})
        if days <= settings.exchange_days:
            within.add("exchange")
            reasons["exchange"] = Reason("exchange_period", {"limit": settings.exchange_days, "days": days})
        else:
            reasons["exchange"] = Reason(
                "exchange_over",
                {
                    "limit": settings.exchange_days,
                    "repairs": settings.repairs_before_exchange,
                    "days": days,
                    "count": repairs_so_far,
                },
            )
    guaranteed = frozenset(g for g in GUARANTEES if g in within and (g != "repair" or in_warranty))
    return Entitlement(
        frozenset(within), reasons, guaranteed, days, repairs_so_far, settings.compensation_limit
    )


def parse_amount(amount: Any) -> Decimal | None:
    """An amount as evidence keeps it ("150.00"), or None."""
    if amount is None or isinstance(amount, bool):
        return None
    try:
        value = Decimal(str(amount))
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def is_within_policy(
    remedy: str, amount: Any, entitlement: Entitlement, settings: PolicySettings | None = None
) -> bool:
    """Whether offering this remedy (and amount) needs no quality approval."""
    if remedy not in entitlement.remedies:
        return False
    if remedy == COMPENSATION:
        limit = settings.compensation_limit if settings is not None else entitlement.compensation_limit
        value = parse_amount(amount)
        return value is not None and value <= limit
    return True


def stronger_entitlements(remedy: str, entitlement: Entitlement) -> tuple[str, ...]:
    """The guarantees the customer is entitled to that are stronger than the offer (under-promising):
    repair when exchange or return is due; an explanation, apology or money when any of them is."""
    rank = GUARANTEES.index(remedy) if remedy in GUARANTEES else len(GUARANTEES)
    return tuple(g for g in GUARANTEES[:rank] if g in entitlement.guaranteed)
