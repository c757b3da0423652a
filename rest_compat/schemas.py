"""JSON Schemas of the compat bodies (OpenAPI 3.1), following Rainmaker_Swagger.yaml, and the
small validator that holds requests to them.

The schemas published at /v1/openapi.json are the contract: a request that breaks one is refused
with 400 before any use case runs, and one that keeps to it is not refused for its shape. So the
patterns below state the domain's rules (user names, password policy, display names) exactly;
they use only syntax that means the same in Python and ECMA-262 regular expressions (explicit
character classes, no ``\\s``/``\\d``/``\\w``), so generators and validators of either kind agree.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from domain.accounts.model import is_text


def obj(properties: dict[str, Any], required: tuple[str, ...] = (),
        additional: bool = True, **keywords: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    if not additional:
        schema["additionalProperties"] = False
    schema.update(keywords)
    return schema


# What Python's str.strip()/str.isspace() treat as white space.
WHITESPACE = (r"\t\n\x0b\x0c\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f"
              r"\u3000")
CONTROL = r"\x00-\x1f"

STR = {"type": "string"}
# domain.devices.model.TAG: "key:value", no control characters
TAG_PATTERN = f"^[^:{WHITESPACE}{CONTROL}][^:{CONTROL}]{{0,63}}:[^:{CONTROL}]{{0,128}}$"
# domain.accounts.model.normalize_user_name: an E.164 number, or an e-mail address whose first
# character is not "+" (a leading "+" always means a phone number); white space around it is
# ignored.
_EMAIL_CHARS = "A-Za-z0-9.!#$%&'*+/=?^_`{|}~-"
USER_NAME = {"type": "string", "minLength": 1, "maxLength": 254,
             "pattern": (rf"^[{WHITESPACE}]*(\+[1-9][0-9]{{7,14}}|[{_EMAIL_CHARS.replace('+', '')}]"
                         rf"[{_EMAIL_CHARS}]*@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+)[{WHITESPACE}]*$"),
             "description": "e-mail address or +<country code><number> (E.164); white space "
                            "around it is ignored"}
# domain.accounts.model.check_password_policy
# Stated without look-aheads (which make generators search for minutes): the six orders in
# which the three required classes can first appear; minLength/maxLength bound the length.
_NOT_WS = f"[^{WHITESPACE}]*"
PASSWORD = {"type": "string", "minLength": 8, "maxLength": 256,
            "pattern": "^{0}(?:{1}){0}$".format(_NOT_WS, "|".join(
                _NOT_WS.join(order) for order in itertools.permutations(
                    ("[A-Z]", "[a-z]", "[0-9]")))),
            "description": "8..256 characters without white space, with at least one "
                           "upper-case letter, one lower-case letter and one digit"}
CODE = {"type": "string", "pattern": "^[0-9]{1,16}$", "description": "the code that was sent"}
# domain.accounts.model.check_display_name: white space around it is dropped; what remains is
# not empty and has no control characters.
_NAME_EDGE = f"[^{CONTROL}{WHITESPACE}]"
DISPLAY_NAME = {"type": "string", "minLength": 1, "maxLength": 256,
                "pattern": (rf"^[{WHITESPACE}]*{_NAME_EDGE}([^{CONTROL}]*{_NAME_EDGE})?"
                            rf"[{WHITESPACE}]*$"),
                "description": "up to 256 characters, not blank, no control characters other "
                               "than white space around the name (which is dropped)"}

SUCCESS = obj({"status": {"type": "string", "enum": ["success"]}, "description": STR},
              ("status",))
FAILURE = obj({"status": {"type": "string", "enum": ["failure"]}, "description": STR,
               "error_code": {"type": "integer"}}, ("status", "description", "error_code"))

# `password` signs up, `verification_code` confirms; with both, `password` wins.
CREATE_OR_CONFIRM_USER = obj({"user_name": USER_NAME, "password": PASSWORD,
                              "verification_code": CODE}, ("user_name",),
                             anyOf=[{"required": ["password"]},
                                    {"required": ["verification_code"]}])
# `refreshtoken` extends a session (`user_name`, if given, must be its user's); otherwise
# `user_name` and `password` sign in.
LOGIN = obj({"user_name": USER_NAME, "password": {"type": "string", "minLength": 1,
                                                  "maxLength": 256},
             "refreshtoken": {"type": "string", "minLength": 1, "maxLength": 512}},
            anyOf=[{"required": ["refreshtoken"]}, {"required": ["user_name", "password"]}])
LOGIN_SUCCESS = obj({"status": {"type": "string", "enum": ["success"]}, "description": STR,
                     "idtoken": STR, "accesstoken": STR, "refreshtoken": STR},
                    ("status", "idtoken", "accesstoken"))
LOGOUT = obj({"refreshtoken": {"type": "string", "maxLength": 512}})
PASSWORD_CHANGE = obj({"password": {"type": "string", "minLength": 1, "maxLength": 256},
                       "newpassword": PASSWORD}, ("password", "newpassword"))
# `user_name` alone asks for a code; with `verification_code` and the new `password` it resets.
FORGOT_PASSWORD = obj({"user_name": USER_NAME, "password": PASSWORD,
                       "verification_code": CODE}, ("user_name",),
                      dependentRequired={"password": ["verification_code"],
                                         "verification_code": ["password"]})
UPDATE_USER = obj({"name": DISPLAY_NAME}, ("name",))
GET_USER = obj({"user_id": STR, "user_name": STR, "name": STR, "super_admin": {"type": "boolean"},
                "admin": {"type": "boolean"}, "user_roles": {"type": "array", "items": STR}},
               ("user_id", "user_name"))
API_VERSIONS = obj({"supported_versions": {"type": "array", "items": STR},
                    "additional_info": {"type": "array", "items": obj({
                        "version": STR, "build_info": STR, "release_notes": STR})}},
                   ("supported_versions",))


# --- validation -------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Violation:
    """The first rule a value breaks: the top-level property concerned (None for the value as a
    whole), the keyword that failed, and whether the property was missing."""

    field: str | None
    keyword: str
    missing: bool = False


_TYPES: dict[str, Any] = {"object": dict, "array": list, "string": str, "boolean": bool,
                          "null": type(None)}


def _is_type(value: Any, name: str | list[str]) -> bool:
    if isinstance(name, list):  # OpenAPI 3.1 / JSON Schema: any of these types
        return any(_is_type(value, one) for one in name)
    if name == "string":  # Unicode text: a JSON string may also spell a lone surrogate
        return isinstance(value, str) and is_text(value)
    if name == "integer":  # JSON Schema: 64.0 is an integer too
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and value.is_integer())
    if name == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, _TYPES[name])


@lru_cache(maxsize=64)
def _compiled(pattern: str) -> re.Pattern[str]:
    # ECMA-262 "$" never matches before a final newline; Python's does, unless it is "\Z".
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        pattern = pattern[:-1] + r"\Z"
    return re.compile(pattern)


def violated_keyword(schema: Mapping[str, Any] | bool, value: Any) -> str | None:
    """The keyword `value` breaks in a scalar schema (or a nested one), or None."""
    if schema is True:
        return None
    if schema is False:
        return "false"
    assert isinstance(schema, Mapping)
    kind = schema.get("type")
    if kind is not None and not _is_type(value, kind):
        return "type"
    if "enum" in schema and value not in schema["enum"]:
        return "enum"
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            return "minimum"
        if "maximum" in schema and value > schema["maximum"]:
            return "maximum"
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            return "minLength"
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            return "maxLength"
        if "pattern" in schema and not _compiled(schema["pattern"]).search(value):
            return "pattern"
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            return "minItems"
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            return "maxItems"
        if "items" in schema and any(violated_keyword(schema["items"], item) is not None
                                     for item in value):
            return "items"
    if "anyOf" in schema and not isinstance(value, dict) and all(
            violated_keyword(branch, value) is not None for branch in schema["anyOf"]):
        return "anyOf"
    if isinstance(value, dict) and validate(schema, value) is not None:
        return "properties"
    return None


def validate(schema: Mapping[str, Any], value: Any) -> Violation | None:
    """Checks `value` against one of the schemas above (the subset of JSON Schema they use)."""
    if schema.get("type") == "object" and not isinstance(value, dict):
        return Violation(None, "type")
    if not isinstance(value, dict):
        keyword = violated_keyword(schema, value)
        return Violation(None, keyword) if keyword else None
    if len(value) < schema.get("minProperties", 0):
        return Violation(None, "minProperties")
    for name in schema.get("required", ()):
        if name not in value:
            return Violation(name, "required", missing=True)
    properties = schema.get("properties", {})
    if "propertyNames" in schema:
        for name in value:
            if violated_keyword(schema["propertyNames"], name) is not None:
                return Violation(name, "propertyNames")
    for name, item in value.items():
        if name in properties:
            keyword = violated_keyword(properties[name], item)
        elif schema.get("additionalProperties", True) is False:
            keyword = "additionalProperties"
        elif isinstance(schema.get("additionalProperties"), Mapping):
            keyword = violated_keyword(schema["additionalProperties"], item)
        else:
            keyword = None
        if keyword is not None:
            return Violation(name, keyword)
    for name, needed in schema.get("dependentRequired", {}).items():
        if name in value:
            for other in needed:
                if other not in value:
                    return Violation(other, "dependentRequired", missing=True)
    branches = schema.get("anyOf")
    if branches and all(validate(branch, value) is not None for branch in branches):
        return Violation(None, "anyOf")
    return None
