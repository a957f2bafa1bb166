"""The formats some values must have, as regular expressions, each with what it means in plain
words: a value that does not match is refused with those words (``errors.py``), never with the
expression."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Format:
    pattern: str
    words: str
    """What a matching value is, after "must be": "a phone number in international form ..."."""


E164 = Format(r"^\+[1-9][0-9]{6,14}$", "a phone number in international form (E.164), like +14155550100")
DIGITS = Format(r"^[0-9]{1,30}$", "digits only, as the platform shows it")
TWILIO_ACCOUNT_SID = Format(r"^AC[0-9a-fA-F]{32}$", "AC and 32 hexadecimal digits, as Twilio's console shows it")
TELEGRAM_BOT_TOKEN = Format(
    r"^[0-9]{1,20}:[A-Za-z0-9_-]{20,100}$",
    "a bot token as @BotFather gives it: digits, a colon, then 20 or more letters",
)
FUNCTION_NAME = Format(r"^[A-Za-z0-9_-]{1,64}$", "1 to 64 letters, digits, _ or - (no spaces)")
HEX_COLOUR = Format(r"^#[0-9a-fA-F]{6}$", "a colour as # and six hexadecimal digits, like #2563eb")
NO_NUL = Format(r"^[^\x00]*$", "text without the NUL character")
"""Text a database can keep: anything but NUL."""

FORMATS = (E164, DIGITS, TWILIO_ACCOUNT_SID, TELEGRAM_BOT_TOKEN, FUNCTION_NAME, HEX_COLOUR, NO_NUL)
WORDS = {f.pattern: f.words for f in FORMATS}
