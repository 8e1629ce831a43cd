"""How customer identifiers are normalised, once, for storing and for looking up."""

import re

REFERENCE_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,50}$")
_MOBILE_FORMATTING = re.compile(r"[\s().\-/]")
MOBILE_MIN_DIGITS = 7
MOBILE_MAX_DIGITS = 15
# What the API accepts as a mobile, as a pattern for the schema: 7–15 digits, optionally after
# '+' or '00', with spaces, dots, dashes, slashes and parentheses between them.
MOBILE_INPUT_PATTERN = r"^(\+|00)?[ ().\-/]*(?:[0-9][ ().\-/]*){7,15}$"


def normalize_email(value: str | None) -> str | None:
    """Emails are compared and stored lowercased: one mailbox, one customer."""
    if value is None:
        return None
    value = value.strip().lower()
    return value or None


def normalize_mobile(value: str | None) -> str | None:
    """E.164 digits without '+' or formatting ("+593 99-123 4567" → "593991234567").

    Returns None for anything that is not 7–15 digits once formatting is removed.
    """
    if value is None:
        return None
    digits = _MOBILE_FORMATTING.sub("", value.strip())
    digits = digits.removeprefix("+")
    if digits.startswith("00") and len(digits) - 2 >= MOBILE_MIN_DIGITS:
        digits = digits[2:]  # international call prefix, same as '+'
    if not digits.isascii() or not digits.isdigit():
        return None
    if not MOBILE_MIN_DIGITS <= len(digits) <= MOBILE_MAX_DIGITS:
        return None
    return digits


def is_reference_id(value: str) -> bool:
    return bool(REFERENCE_ID_RE.match(value))
