"""JSON Schemas of the compat bodies (OpenAPI 3.1), following Rainmaker_Swagger.yaml, and how
requests are held to them (jsonschema).

The schemas published at /v1/openapi.json are the contract: a request that breaks one is refused
with 400 before any use case runs, and one that keeps to it is not refused for its shape. So the
patterns below state the domain's rules (user names, password policy, display names) exactly;
they use only syntax that means the same in Python and ECMA-262 regular expressions (explicit
character classes, no ``\\s``/``\\d``/``\\w``), so generators and validators of either kind agree.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jsonschema import Draft202012Validator, ValidationError, validators

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

# A boolean query parameter, declared as Espressif's spec declares them (type boolean); the
# value is read by rest_compat.http.bool_param, which takes true/false in any letter case
# (esp-rainmaker-cli sends primary_user=False).
FLAG_TEXT = "true or false, in any letter case (True, FALSE...)"
FLAG = {"type": "boolean", "description": FLAG_TEXT}


def flag(default: bool) -> dict[str, Any]:
    """FLAG with the default the spec documents for that parameter."""
    return {**FLAG, "default": default}


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
# null means absent for the two optional members: esp-rainmaker-cli's first step sends
# {"user_name": ..., "password": null, "verification_code": null}.
NULL = {"type": "null"}
FORGOT_PASSWORD_NULLABLE = ("password", "verification_code")
FORGOT_PASSWORD = obj({"user_name": USER_NAME,
                       "password": {**PASSWORD, "type": ["string", "null"]},
                       "verification_code": {**CODE, "type": ["string", "null"]}},
                      ("user_name",),
                      anyOf=[obj({"password": NULL, "verification_code": NULL}),
                             obj({"password": STR, "verification_code": STR},
                                 ("password", "verification_code"))],
                      description="user_name alone (password and verification_code absent or "
                                  "null) asks for a code; with both it resets the password")
UPDATE_USER = obj({"name": DISPLAY_NAME}, ("name",))
GET_USER = obj({"user_id": STR, "user_name": STR, "name": STR, "super_admin": {"type": "boolean"},
                "admin": {"type": "boolean"}, "user_roles": {"type": "array", "items": STR}},
               ("user_id", "user_name"))
API_VERSIONS = obj({"supported_versions": {"type": "array", "items": STR},
                    "additional_info": {"type": "array", "items": obj({
                        "version": STR, "build_info": STR, "release_notes": STR})}},
                   ("supported_versions",))


# --- validation -------------------------------------------------------------------------------
# jsonschema (the reference implementation, Draft 2020-12) checks the requests, held to the
# keywords these schemas assert: annotations (description, default, deprecated,
# contentMediaType, format) assert nothing, and the rules stated with not/allOf/if/then/
# exclusiveMinimum are documentation the handlers enforce themselves, answering with
# RainMaker's own codes. Two keywords follow ECMA-262, which the OpenAPI document promises:
# "string" is Unicode text (a JSON string may spell a lone surrogate), and "$" ends the text.

_ASSERTED = ("type", "enum", "minimum", "maximum", "minLength", "maxLength", "pattern",
             "minItems", "maxItems", "items", "anyOf", "properties", "required",
             "additionalProperties", "minProperties", "propertyNames", "dependentRequired")
# the keyword a value reports when several fail: the first of these (the order in which a
# client fixes them: the kind of value, then its bounds, then its parts)
_FIRST = {keyword: rank for rank, keyword in enumerate((
    "false", "type", "enum", "minimum", "maximum", "minLength", "maxLength", "pattern",
    "minItems", "maxItems", "items", "anyOf", "properties"))}


@dataclass(frozen=True, slots=True)
class Violation:
    """The first rule a value breaks: the top-level property concerned (None for the value as a
    whole), the keyword that failed, and whether the property was missing; `path` is where the
    broken rule sits inside the value (property names and item indexes: ("policies", 2)) and
    `rule` says, in words, what the value there must be ("must be a string, not a number")."""

    field: str | None
    keyword: str
    missing: bool = False
    path: tuple[str | int, ...] = ()
    rule: str = ""

    def describe(self) -> str:
        """"<path>: <rule>" (the rule alone for the value as a whole), for a client to act on."""
        where = render_path(self.path)
        rule = self.rule or f"breaks the {self.keyword} rule"
        return f"{where}: {rule}" if where else rule


_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,63}")
_SHOWN_PATTERN = 40  # longer patterns are described (their schema's description), not shown


def render_path(path: tuple[str | int, ...]) -> str:
    """("policies", 2, "name") -> policies[2].name; names that are not plain identifiers
    (the client chose them) quoted as JSON, cut to 64 characters."""
    text = ""
    for step in path:
        if isinstance(step, int):
            text += f"[{step}]"
        else:
            name = step if _PLAIN_NAME.fullmatch(step) else json.dumps(step[:64])
            text += f".{name}" if text else name
    return text


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"


_TYPE_NAMES = {"string": "a string", "integer": "an integer", "number": "a number",
               "boolean": "a boolean", "array": "an array", "object": "an object",
               "null": "null"}


def _listed(values: list[Any], limit: int = 10) -> str:
    shown = ", ".join(json.dumps(v) for v in values[:limit])
    return shown + (", ..." if len(values) > limit else "")


def _needs(branches: list[Any]) -> str | None:
    """anyOf branches that only require properties, in words ("password or
    verification_code"); None when some branch says more."""
    if not all(isinstance(b, dict) and set(b) == {"required"} for b in branches):
        return None
    return " or ".join(" and ".join(b["required"]) for b in branches)


def _rule(error: ValidationError) -> tuple[tuple[str | int, ...], str]:
    """Where inside the value the deepest broken rule sits (relative to the error's own
    path: a missing or unknown property adds its name) and the rule in words."""
    keyword, expected, instance = error.validator, error.validator_value, error.instance
    schema = error.schema if isinstance(error.schema, dict) else {}
    if keyword == "type":
        names = [expected] if isinstance(expected, str) else list(expected)
        if isinstance(instance, str) and "string" in names:
            return (), "must be Unicode text (it holds a lone surrogate)"
        wanted = " or ".join(_TYPE_NAMES.get(n, n) for n in names)
        return (), f"must be {wanted}, not {_kind(instance)}"
    if keyword == "enum":
        return (), f"must be one of {_listed(list(expected))}"
    if keyword in ("minimum", "maximum"):
        return (), f"must be {'at least' if keyword == 'minimum' else 'at most'} {expected}"
    if keyword == "minLength":
        return (), "must not be empty" if expected == 1 else \
            f"must be at least {expected} characters long"
    if keyword == "maxLength":
        return (), f"must be at most {expected} characters long"
    if keyword == "pattern":
        if len(expected) <= _SHOWN_PATTERN:
            return (), f"must match the pattern {expected}"
        described = schema.get("description")
        return (), f"must be {described}" if described else "has an invalid format"
    if keyword in ("minItems", "maxItems"):
        if keyword == "minItems" and expected == 1:
            return (), "must not be empty"
        bound = "at least" if keyword == "minItems" else "at most"
        return (), f"must have {bound} {expected} item{'s' if expected != 1 else ''}"
    if keyword == "minProperties":
        return (), f"must have at least {expected} propert{'ies' if expected != 1 else 'y'}"
    if keyword == "required" and isinstance(instance, dict):
        missing = [name for name in expected if name not in instance]
        return (missing[0],) if missing else (), "is required"
    if keyword == "dependentRequired" and isinstance(instance, dict):
        for name, needed in expected.items():
            for other in needed:
                if name in instance and other not in instance:
                    return (other,), f"is required with {name}"
    if keyword == "additionalProperties" and isinstance(instance, dict):
        known = schema.get("properties", {})
        extra = [name for name in instance if name not in known]
        return (extra[0],) if extra else (), "is not a known property"
    if keyword == "propertyNames":
        return (), "is not an allowed property name"
    if keyword == "anyOf":
        if isinstance(instance, dict):  # a form half given: name what the rest needs
            for form in expected:
                wanted = form.get("required", []) if isinstance(form, dict) else []
                given = [n for n in wanted if instance.get(n) is not None]
                if given and len(given) < len(wanted):
                    missing = next(n for n in wanted if n not in given)
                    return (missing,), f"is required with {given[0]}"
        needs = _needs(list(expected))
        return (), f"needs {needs}" if needs else "matches none of the allowed forms"
    if keyword is None or expected is False:
        return (), "is not allowed"
    return (), f"breaks the {keyword} rule"


def _located(error: ValidationError, **fields: Any) -> Violation:
    extra, rule = _rule(error)
    path = tuple(error.absolute_path) + extra
    return Violation(path=path, rule=rule, **fields)


@lru_cache(maxsize=64)
def _compiled(pattern: str) -> re.Pattern[str]:
    # ECMA-262 "$" never matches before a final newline; Python's does, unless it is "\Z".
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        pattern = pattern[:-1] + r"\Z"
    return re.compile(pattern)


def _pattern(_validator: Any, pattern: str, instance: Any,
             _schema: Any) -> Iterator[ValidationError]:
    if isinstance(instance, str) and not _compiled(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


_Validator = validators.create(
    meta_schema=Draft202012Validator.META_SCHEMA,
    validators={**{k: Draft202012Validator.VALIDATORS[k] for k in _ASSERTED},
                "pattern": _pattern},
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine(
        "string", lambda _checker, value: isinstance(value, str) and is_text(value)),
)


def _errors(schema: Mapping[str, Any] | bool, value: Any) -> list[ValidationError]:
    return list(_Validator(schema).iter_errors(value))


def _keyword(error: ValidationError, depth: int) -> str:
    """The keyword of the schema `depth` steps down the error's schema path ("false": the
    schema false itself)."""
    path = list(error.relative_schema_path)
    return str(path[depth]) if len(path) > depth else "false"


def _first(keywords: list[str], value: Any) -> str | None:
    """What a value reports: a structured value fails as a whole ("properties") unless its
    kind or its enum is wrong."""
    if isinstance(value, dict):
        keywords = [k if k in ("type", "enum", "false") else "properties" for k in keywords]
    return min(keywords, key=lambda k: _FIRST.get(k, len(_FIRST)), default=None)


def violated_keyword(schema: Mapping[str, Any] | bool, value: Any) -> str | None:
    """The keyword `value` breaks in a scalar schema (or a nested one), or None."""
    return _first([_keyword(e, 0) for e in _errors(schema, value)], value)


def validate(schema: Mapping[str, Any], value: Any) -> Violation | None:
    """Checks `value` against one of the schemas above; for an object, the violation reported
    is the first of: too few properties, a missing required one (in `required` order), a bad
    property name, a bad property (in the body's order), a missing dependent one, no anyOf
    branch matched."""
    if schema.get("type") == "object" and not isinstance(value, dict):
        return Violation(None, "type", rule=f"must be an object, not {_kind(value)}")
    errors = _errors(schema, value)
    if not errors:
        return None
    if not isinstance(value, dict):
        keyword = _first([_keyword(e, 0) for e in errors], value)
        if keyword is None:
            return None
        error = next(e for e in errors if _keyword(e, 0) == keyword)
        return _located(error, field=None, keyword=keyword)
    order = {name: index for index, name in enumerate(value)}
    found: list[tuple[tuple[int, ...], Violation]] = []
    for error in errors:
        keyword = _keyword(error, 0)
        if keyword == "minProperties":
            found.append(((0,), _located(error, field=None, keyword=keyword)))
        elif keyword == "required":
            found.extend(((1, i), Violation(name, keyword, missing=True, path=(name,),
                                            rule="is required"))
                         for i, name in enumerate(schema["required"]) if name not in value)
        elif keyword == "propertyNames":
            found.append(((2, order[error.instance]),
                          Violation(error.instance, keyword, path=(error.instance,),
                                    rule="is not an allowed property name")))
        elif error.path:  # a property's own value ("properties" or "additionalProperties")
            name = str(error.path[0])
            inner = _first([_keyword(error, 2 if keyword == "properties" else 1)], value[name])
            assert inner is not None
            found.append(((3, order[name], _FIRST.get(inner, len(_FIRST))),
                          _located(error, field=name, keyword=inner)))
        elif keyword == "additionalProperties":  # false: the first property not allowed
            allowed = schema.get("properties", {})
            found.extend(((3, order[name], -1),
                          Violation(name, keyword, path=(name,), rule="is not a known property"))
                         for name in value if name not in allowed)
        elif keyword == "dependentRequired":
            found.extend(((4, i, j), Violation(other, keyword, missing=True, path=(other,),
                                               rule=f"is required with {name}"))
                         for i, (name, needed) in enumerate(schema[keyword].items())
                         if name in value
                         for j, other in enumerate(needed) if other not in value)
        elif keyword == "anyOf":
            found.append(((5,), _located(error, field=None, keyword=keyword)))
    return min(found, key=lambda pair: pair[0])[1] if found else None
