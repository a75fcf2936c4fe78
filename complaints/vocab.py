"""The default vocabularies: codes used in the API and database, labels shown in the UI."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

ROLES = {
    "frontline": _l("Front-line staff"),
    "responder": _l("First responder"),
    "quality": _l("Quality manager"),
    "admin": _l("Administrator"),
}

CHANNELS = {
    "phone": _l("Phone"),
    "email": _l("Email"),
    "walk_in": _l("Walk-in"),
    "visit": _l("Visit"),
    "web": _l("Web"),
    "social": _l("Social media"),
    "letter": _l("Letter"),
}

SEVERITIES = {
    "low": _l("Low"),
    "normal": _l("Normal"),
    "high": _l("High"),
    "critical": _l("Critical"),
}

CATEGORIES = {
    "product": _l("Product"),
    "service": _l("Service"),
    "delivery": _l("Delivery"),
    "billing": _l("Billing"),
    "installation": _l("Installation"),
    "spare_parts": _l("Spare parts"),
    "other": _l("Other"),
}

# How the owner reached the customer; customer_link is the customer's own act.
METHODS = {
    "phone": _l("Phone"),
    "email": _l("Email"),
    "in_person": _l("In person"),
    "visit": _l("Visit"),
    "message": _l("Message"),
    "customer_link": _l("Customer link"),
}
CUSTOMER_LINK = "customer_link"
STAFF_METHODS = {k: v for k, v in METHODS.items() if k != CUSTOMER_LINK}

TEMPERAMENTS = {
    "calm": _l("Calm"),
    "friendly": _l("Friendly"),
    "hesitant": _l("Hesitant"),
    "insistent": _l("Insistent"),
    "excited": _l("Excited"),
    "angry": _l("Angry"),
    "chronic": _l("Chronic complainer"),
    "sulking": _l("Sulking"),
    "unreasonable": _l("Unreasonable"),
    "hostile": _l("Hostile"),
}

ROOT_CAUSE_CATEGORIES = {
    "product": _l("Product"),
    "service": _l("Service"),
    "process": _l("Process"),
    "logistics": _l("Logistics"),
    "spare_parts": _l("Spare parts"),
    "documentation": _l("Documentation"),
    "customer_use": _l("Customer use"),
    "other": _l("Other"),
}

REMEDIES = {
    "repair": _l("Repair"),
    "exchange": _l("Exchange"),
    "refund": _l("Refund"),
    "compensation": _l("Compensation"),
    "explanation": _l("Explanation"),
    "apology": _l("Apology"),
    "other": _l("Other"),
}

DEPARTMENTS = {
    "development": _l("Development"),
    "quality": _l("Quality"),
    "spare_parts": _l("Spare parts"),
    "service": _l("Service"),
    "training": _l("Training"),
    "none": _l("None (no systemic cause)"),
}

CONFIRM_RESPONSES = {"confirmed": _l("Confirmed"), "corrected": _l("Corrected")}
AGREE_RESPONSES = {"accepted": _l("Accepted"), "declined": _l("Declined")}
SATISFACTION = {
    "satisfied": _l("Satisfied"),
    "neutral": _l("Neutral"),
    "dissatisfied": _l("Dissatisfied"),
    "no_response": _l("No response"),
}
