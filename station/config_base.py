"""What every config section shares: strict, frozen models, and one error for two settings that contradict each
other."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)  # .inf or .nan is no setting

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_as_number(cls, value: Any, info: ValidationInfo) -> Any:
        """``true`` where a number belongs is a mistake, not 1 (pydantic would take it as 1)."""
        inside = value if isinstance(value, list | tuple) else [value]
        if any(isinstance(v, bool) for v in inside) and info.field_name and "bool" not in str(cls.model_fields[info.field_name].annotation):
            raise ValueError("expected a number or text, not true/false")
        return value

    @field_validator("*", mode="before")
    @classmethod
    def _no_empty_path(cls, value: Any, info: ValidationInfo) -> Any:
        """An empty path is no file or folder (it would be read as ".": the config's own folder), never a default."""
        if isinstance(value, str) and not value.strip() and info.field_name and "Path" in str(cls.model_fields[info.field_name].annotation):
            raise ValueError("an empty path: give a file or folder, or null")
        return value


class Contradiction(ValueError):
    """Two settings that cannot both hold; ``key`` names the one reported (the full key path)."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key
