"""What the schemas of stored settings share (an assistant's, a chat widget's): one ``parse``
that the API, the console's forms and the command line all check with."""

from typing import Any, Self

from pydantic import BaseModel, ConfigDict, ValidationError

from replyd.errors import ValidationFailed, problems_from_pydantic


class SettingsSchema(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @classmethod
    def parse(cls, fields: dict[str, Any]) -> Self:
        """The settings, or ``ValidationFailed`` listing every problem by its field."""
        try:
            return cls.model_validate(fields)
        except ValidationError as exc:
            raise ValidationFailed(problems_from_pydantic(exc.errors())) from None
