"""The one schema of an assistant's chat widget settings: the console's form is checked by it,
and the widget's script is themed from it (``WidgetConfig.public``)."""

from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from replyd.formats import HEX_COLOUR
from replyd.services.settings_schema import SettingsSchema

STRINGS: dict[str, dict[str, str]] = {
    "en": {
        "open": "Open chat",
        "close": "Close chat",
        "placeholder": "Type your message",
        "send": "Send",
        "typing": "Typing…",
        "agent_typing": "An agent is typing…",
        "agent": "Agent",
        "error": "Your message was not sent; please try again.",
    },
    "de": {
        "open": "Chat öffnen",
        "close": "Chat schließen",
        "placeholder": "Ihre Nachricht",
        "send": "Senden",
        "typing": "Schreibt…",
        "agent_typing": "Ein Mitarbeiter schreibt…",
        "agent": "Mitarbeiter",
        "error": "Ihre Nachricht wurde nicht gesendet; bitte versuchen Sie es erneut.",
    },
    "fr": {
        "open": "Ouvrir le chat",
        "close": "Fermer le chat",
        "placeholder": "Votre message",
        "send": "Envoyer",
        "typing": "Écrit…",
        "agent_typing": "Un conseiller écrit…",
        "agent": "Conseiller",
        "error": "Votre message n'a pas été envoyé ; veuillez réessayer.",
    },
    "es": {
        "open": "Abrir chat",
        "close": "Cerrar chat",
        "placeholder": "Escribe tu mensaje",
        "send": "Enviar",
        "typing": "Escribiendo…",
        "agent_typing": "Un agente está escribiendo…",
        "agent": "Agente",
        "error": "Tu mensaje no se envió; inténtalo de nuevo.",
    },
}
"""The widget's words in each language it ships; an assistant's settings may override any."""

STRING_NAMES = tuple(STRINGS["en"])
MAX_ORIGINS = 20


class WidgetConfig(SettingsSchema):
    enabled: bool = True
    allowed_origins: list[str] = Field(default_factory=list, max_length=MAX_ORIGINS)
    """The pages that may use the widget, as origins (``https://shop.example.com``); none: no page."""
    color: str = Field(default="#2563eb", pattern=HEX_COLOUR.pattern)
    title: str = Field(default="Chat with us", min_length=1, max_length=60)
    greeting: str = Field(default="Hi! How can we help?", max_length=500)
    """Shown atop the panel; not stored in the conversation (the assistant's first message is)."""
    position: Literal["right", "left"] = "right"
    language: Literal["en", "de", "fr", "es"] = "en"
    strings: dict[str, str] = Field(default_factory=dict)
    """Overrides of the language's words, by name (``STRING_NAMES``)."""

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, origins: list[str]) -> list[str]:
        return list(dict.fromkeys(origin_of(o) for o in origins))

    @field_validator("strings")
    @classmethod
    def _known_strings(cls, strings: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(strings) - set(STRING_NAMES))
        if unknown:
            raise ValueError(f"unknown names {', '.join(unknown)}; the widget's strings are {', '.join(STRING_NAMES)}")
        if any(len(text) > 200 for text in strings.values()):
            raise ValueError("each string may have at most 200 characters")
        return {name: text for name, text in strings.items() if text.strip()}

    def theme(self) -> dict[str, Any]:
        """What the database keeps as the widget's look."""
        return self.model_dump(exclude={"enabled", "allowed_origins"})

    def public(self) -> dict[str, Any]:
        """What a page's widget is told: the look, with its words resolved."""
        look = self.theme()
        look["strings"] = STRINGS[self.language] | self.strings
        return look


def origin_of(text: str) -> str:
    """``https://Shop.example.com/`` -> ``https://shop.example.com``: the form browsers send in
    ``Origin``; ValueError for anything with a path, a query, or a scheme other than http(s)."""
    try:
        parts = urlsplit(text.strip())
        port = parts.port
    except ValueError:
        raise ValueError(f"{text!r} is not an origin") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
        raise ValueError(f"{text!r} is not an origin; write the scheme and host, like https://shop.example.com")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError(f"{text!r} is not an origin; write the scheme and host, like https://shop.example.com")
    default_port = {"http": 80, "https": 443}[parts.scheme]
    host = parts.hostname.lower()
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default_port else "")
