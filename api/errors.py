"""One error shape for every API answer that is not a success:
`{"error": {"code": "...", "message": "..."}}` (plus `fields` for invalid
input), with `Retry-After` on 429. Codes are stable; messages are for people."""

from __future__ import annotations

from django.http import Http404, JsonResponse
from ninja.errors import AuthenticationError, HttpError, ValidationError


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        retry_after: int | None = None,
        fields: list[dict] | None = None,
    ):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.retry_after, self.fields = retry_after, fields

    def body(self) -> dict:
        error: dict = {"code": self.code, "message": self.message}
        if self.fields:
            error["fields"] = self.fields
        return {"error": error}


def error_response(exc: ApiError) -> JsonResponse:
    response = JsonResponse(exc.body(), status=exc.status)
    if exc.retry_after is not None:
        response["Retry-After"] = str(exc.retry_after)
    if exc.status == 401:
        response["WWW-Authenticate"] = "Bearer"
    return response


def _field_errors(errors: list[dict]) -> list[dict]:
    """Pydantic's errors as {field, message}: `loc` without the leading
    "body"/"query"/"path" and the payload's parameter name."""
    out = []
    for err in errors:
        loc = [str(part) for part in err.get("loc", ())]
        if loc and loc[0] in ("body", "query", "path", "header"):
            loc = loc[1:]
        if loc and loc[0] == "payload":
            loc = loc[1:]
        out.append({"field": ".".join(loc) or None, "message": str(err.get("msg", "invalid"))})
    return out


def install(api) -> None:
    """Register the handlers on a NinjaAPI."""

    @api.exception_handler(ApiError)
    def _api_error(request, exc: ApiError):
        return error_response(exc)

    @api.exception_handler(AuthenticationError)
    def _unauthorized(request, exc):
        return error_response(
            ApiError(401, "unauthorized", "A valid token is required: Authorization: Bearer <token>.")
        )

    @api.exception_handler(ValidationError)
    def _invalid(request, exc: ValidationError):
        fields = _field_errors(exc.errors)
        first = fields[0] if fields else {"field": None, "message": "invalid"}
        where = f"{first['field']}: " if first["field"] else ""
        return error_response(ApiError(422, "invalid", f"{where}{first['message']}", fields=fields))

    @api.exception_handler(Http404)
    def _not_found(request, exc):
        return error_response(ApiError(404, "not_found", "No such object."))

    @api.exception_handler(HttpError)
    def _http_error(request, exc: HttpError):
        code = {400: "bad_request", 405: "method_not_allowed"}.get(exc.status_code, "error")
        return error_response(ApiError(exc.status_code, code, str(exc)))
