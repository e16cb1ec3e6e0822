"""The one error shape (yima_kit.errors) every service answers in: pydantic's errors in Chinese."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel, ConfigDict, Field, field_validator
from yima_kit.errors import INVALID_BODY_ZH, error_response, install_error_shape, validation_errors


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=3)
    phone: str
    note: str = ""

    @field_validator("phone")
    @classmethod
    def _phone(cls, v: str) -> str:
        raise ValueError("电话号码格式不正确")

    @field_validator("note")
    @classmethod
    def _note(cls, v: str) -> str:
        raise ValueError("internal detail in English")


def _app() -> FastAPI:
    app = FastAPI()
    install_error_shape(app)

    @app.post("/x")
    async def x(body: Body) -> dict[str, str]:
        return {}

    return app


def test_a_bad_body_answers_field_by_field_in_chinese() -> None:
    r = TestClient(_app()).post("/x", json={"name": "abcd", "phone": "1", "note": "n", "extra": 1})
    assert r.status_code == 422
    body = r.json()
    assert body["message"] == INVALID_BODY_ZH
    by_field = {e["field"]: (e["code"], e["message"]) for e in body["errors"]}
    assert by_field == {
        "name": ("string_too_long", "内容太长"),
        "phone": ("value_error", "电话号码格式不正确"),  # our validator's own Chinese
        "note": ("value_error", "取值不正确"),  # an English message is not shown to the applicant
        "extra": ("extra_forbidden", "不认识的字段"),
    }


def test_a_missing_field_and_an_unknown_type() -> None:
    errors = validation_errors([{"loc": ("body", "a", 0), "type": "missing"}, {"loc": ("q",), "type": "new_type"}])
    assert errors == [{"field": "a.0", "code": "missing", "message": "缺少必填项"},
                      {"field": "q", "code": "new_type", "message": "取值不正确"}]


def test_error_response_is_one_field_with_its_message_as_headline() -> None:
    r = error_response(409, "score", "already_rated", "已经评价过了")
    assert r.status_code == 409
    assert r.body == ('{"message":"已经评价过了","errors":[{"field":"score","code":"already_rated",'
                      '"message":"已经评价过了"}]}').encode()
