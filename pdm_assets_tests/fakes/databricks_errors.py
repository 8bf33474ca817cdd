"""Databricks-style API errors shared by the emulator's DBFS, Files, jobs and HTTP layers."""
from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error the emulator answers with `{"error_code": ..., "message": ...}` and an HTTP status."""

    def __init__(self, status: int, error_code: str, message: str,
                 details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message
        self.details = details  # google.rpc details, e.g. the ErrorInfo reason the Files API adds

    def body(self) -> dict[str, Any]:
        """The JSON body Databricks sends for this error."""
        body: dict[str, Any] = {"error_code": self.error_code, "message": self.message}
        return {**body, "details": self.details} if self.details else body


def not_found(message: str) -> ApiError:
    """404 RESOURCE_DOES_NOT_EXIST, which the SDK raises as `ResourceDoesNotExist`."""
    return ApiError(404, "RESOURCE_DOES_NOT_EXIST", message)


def invalid(message: str) -> ApiError:
    """400 INVALID_PARAMETER_VALUE, which the SDK raises as `InvalidParameterValue`."""
    return ApiError(400, "INVALID_PARAMETER_VALUE", message)


def already_exists(message: str) -> ApiError:
    """400 RESOURCE_ALREADY_EXISTS, as DBFS answers an upload onto an existing path."""
    return ApiError(400, "RESOURCE_ALREADY_EXISTS", message)


def required(body: dict, field: str) -> object:
    """The value of a required request field, or the 400 Databricks gives when it is missing."""
    value = body.get(field)
    if value is None or value == "":
        raise invalid(f"Missing required field: {field}")
    return value


def as_int(value: object, field: str) -> int:
    """An integer request field (query strings arrive as text), or a 400 naming the field."""
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        raise invalid(f"Invalid value for {field}: {value!r} is not an integer") from None
