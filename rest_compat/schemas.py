"""JSON Schemas of the compat bodies (OpenAPI 3.1), following Rainmaker_Swagger.yaml."""

from __future__ import annotations

from typing import Any


def obj(properties: dict[str, Any], required: tuple[str, ...] = (),
        additional: bool = True) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    if not additional:
        schema["additionalProperties"] = False
    return schema


STR = {"type": "string"}
USER_NAME = {"type": "string", "minLength": 1, "maxLength": 254,
             "description": "e-mail address or +<country code><number>"}
PASSWORD = {"type": "string", "minLength": 8, "maxLength": 256}
CODE = {"type": "string", "minLength": 1, "maxLength": 16}

SUCCESS = obj({"status": {"type": "string", "enum": ["success"]}, "description": STR},
              ("status",))
FAILURE = obj({"status": {"type": "string", "enum": ["failure"]}, "description": STR,
               "error_code": {"type": "integer"}}, ("status", "description", "error_code"))

CREATE_OR_CONFIRM_USER = obj({"user_name": USER_NAME, "password": PASSWORD,
                              "verification_code": CODE}, ("user_name",))
LOGIN = obj({"user_name": USER_NAME, "password": {"type": "string", "minLength": 1,
                                                  "maxLength": 256},
             "refreshtoken": {"type": "string", "minLength": 1, "maxLength": 512}})
LOGIN_SUCCESS = obj({"status": {"type": "string", "enum": ["success"]}, "description": STR,
                     "idtoken": STR, "accesstoken": STR, "refreshtoken": STR},
                    ("status", "idtoken", "accesstoken"))
LOGOUT = obj({"refreshtoken": {"type": "string", "maxLength": 512}})
PASSWORD_CHANGE = obj({"password": {"type": "string", "minLength": 1, "maxLength": 256},
                       "newpassword": PASSWORD}, ("password", "newpassword"))
FORGOT_PASSWORD = obj({"user_name": USER_NAME, "password": PASSWORD,
                       "verification_code": CODE}, ("user_name",))
UPDATE_USER = obj({"name": {"type": "string", "minLength": 1, "maxLength": 256}}, ("name",))
GET_USER = obj({"user_id": STR, "user_name": STR, "name": STR, "super_admin": {"type": "boolean"},
                "admin": {"type": "boolean"}, "user_roles": {"type": "array", "items": STR}},
               ("user_id", "user_name"))
API_VERSIONS = obj({"supported_versions": {"type": "array", "items": STR},
                    "additional_info": {"type": "array", "items": obj({
                        "version": STR, "build_info": STR, "release_notes": STR})}},
                   ("supported_versions",))
