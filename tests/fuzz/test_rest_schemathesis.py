"""R1 (SECURITY.md): schemathesis, in-process, over every REST compat operation.

The app is loaded with `schemathesis.openapi.from_asgi("/v1/openapi.json", app)` and run by
schemathesis' own engine (the runner behind `st run`; `schemathesis.pytest.from_fixture` does not
work with pytest 9.2, whose nodes no longer have `_nodeid`): the examples (the document declares
none, so it is skipped), coverage, fuzzing and stateful phases, positive and negative data, and
every built-in check at its defaults: not_a_server_error, status_code_conformance,
content_type_conformance, response_schema_conformance, response_headers_conformance,
positive_data_acceptance, negative_data_rejection, ignored_auth, missing_required_header,
unsupported_method, allow_header_conformance, use_after_free, ensure_resource_availability...
The run fails on any failure or engine error, and unless the coverage and fuzzing phases each
tested exactly the operations the document lists (so a run that selects none fails too).

Requests run in schemathesis' event-loop thread, which also runs the app's lifespan (the Casbin
rules are loaded there), so the engine's pooled connections belong to that loop; the database is
prepared before with asyncio.run and the engine disposed, so no connection crosses loops.

Credentials: operations that require a token get a superadmin's access token. Some operations
end the session they are called with (logout, password change, account deletion), so the token
is never cached blindly: an `after_call` hook marks it stale after such a call succeeds (and
follows a password change), and the next case signs in again. A guard records any request whose
live token was refused, so a run cannot quietly degrade into testing 401s, and the logout and
password-change operations must each succeed at least once.

RainMaker answers 400 also for refusals that depend on stored state (wrong password, user exists,
wrong code...). Those are not schema problems, so a `filter_failure` hook drops the
positive_data_acceptance failures whose RainMaker error_code is one of them (listed below,
each with its reason); any other 400 for schema-valid data still fails the run.

Knobs: FLEETGATE_FUZZ_EXAMPLES (fuzzing examples per operation, default 50) and
FLEETGATE_FUZZ_SEED (default: a fixed seed, so CI is reproducible and a red run can be replayed;
`random` explores new inputs on each run, for nightly or local bug hunting).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from hypothesis import strategies as st
from schemathesis.engine import Status, events, from_schema
from schemathesis.openapi.checks import RejectedPositiveData
from schemathesis.python import asgi

from fleetgate.app import create_app
from fleetgate.bootstrap import migrate
from fleetgate.container import Container
from fleetgate.settings import Settings
from tests.conftest import PASSWORD, Env, with_settings

ADMIN = "fuzz-root@example.com"
MAX_EXAMPLES = int(os.environ.get("FLEETGATE_FUZZ_EXAMPLES", "50"))
SEED = os.environ.get("FLEETGATE_FUZZ_SEED", "20261122")
REQUIRED_TOKEN = [{"AccessToken": []}]
# Operations that end the token's session; each must succeed at least once in a run.
SESSION_ENDING_SUCCESSES = [("POST", "/v1/logout2"), ("POST", "/v1/logout"),
                            ("PUT", "/v1/password2"), ("PUT", "/v1/password")]

# RainMaker error codes of 400 answers that depend on stored state (or, for 119007, on a
# dependency between query parameters that OpenAPI cannot express), not on the request's shape.
STATE_DEPENDENT_400 = {
    # admin user management (/v1/admin/user2)
    101053: "admin user2 / user roles: the user named is the caller (self-operations)",
    101081: "PUT /v1/admin/user2: super_admin false for a user who is no superadmin",
    101082: "PUT /v1/admin/user2: admin false for a user who is no admin",
    101083: "PUT /v1/admin/user2: super_admin true for a superadmin already",
    101084: "PUT /v1/admin/user2: admin true for an admin already",
    119006: "DELETE /v1/admin/user2: no user of that name in the caller's organization",
    129020: "roles: no role of that name in the organization",
    129033: "roles: the caller's role level is not strictly lower than the role's",
    # roles and policies (/v1/admin/policy, /v1/admin/role, /v1/admin/user_role)
    129011: "POST/PUT /v1/admin/role: no policy of that name in the organization",
    129026: "policy_json over 2 KB as compact JSON: a size JSON Schema cannot state for an "
            "object",
    129027: "role names: the built-in role names are reserved (a rule the pattern leaves out)",
    129028: "policy names: names starting RM_DEFAULT_ are reserved (idem)",
    129047: "PUT /v1/admin/role operation=remove: the role would keep no policy",
    129048: "policy resources must match a path of this deployment's API "
            "(GET /v1/admin/api_paths_methods), which a pattern cannot list",
    100037: "GET /v1/admin/user_role: needs user_name, user_id or role_name",
    129029: "GET /v1/admin/user_role: role_name excludes user_name and user_id",
    101006: "sign-up: the user name belongs to a confirmed account",
    101007: "password change: the current password is wrong",
    101009: "login: unknown user or wrong password",
    101011: "confirmation: the account is confirmed already",
    101012: "confirmation/reset: the code is not the one that was sent (or expired)",
    101015: "login: the account is not confirmed yet",
    101017: "session extension: unknown, used or revoked refresh token",
    119007: "DELETE /v1/user2: needs request=true or a verification_code (either, not both)",
    119015: "DELETE /v1/user2: no deletion was requested",
    119017: "DELETE /v1/user2: a superadmin cannot delete itself",
    100009: "PUT /v1/user/nodes/params: the object form needs ?node_id= (the array form does "
            "not); OpenAPI cannot tie a query parameter to the body's type",
    # admin node routes: dependencies between query parameters (and the body) that OpenAPI
    # cannot express
    105034: "GET /v1/admin/nodes: model needs type",
    105035: "GET /v1/admin/nodes: fw_version needs type and model",
    105063: "GET /v1/admin/nodes: summary=true needs start_time",
    105025: "PUT /v1/admin/nodes: needs activate, or tags in the (optional) body",
    103036: "GET /v1/admin/user/nodes: needs user_id, user_name or node_id",
    103037: "GET /v1/admin/user/nodes: user_id and node_id exclude each other",
    103038: "GET /v1/admin/user/nodes: user_name and node_id exclude each other",
    100016: "PostgreSQL text cannot hold NUL; a schema-valid string with one is refused "
            "where it would reach the database (a 400, not a 500)",
    105047: "tags: the node would carry more than 64 tags (depends on the tags it has)",
    103031: "mapping/verify: the signature is not the challenge signed by the node's key",
    103033: "mapping/verify: the request was confirmed already",
    103011: "mapping/verify: the request timed out",
    103047: "node proxy: the signature is not node_payload signed by the node's key",
    103048: "provisioning: a PEM the pattern admits that is no EC/RSA public key",
    103049: "node proxy: the payload's timestamp is outside the 5-minute window",
    103062: "node proxy: node_payload (a string) holds no timestamp",
    103063: "node proxy: node_payload (a string) holds no data",
    # node sharing
    107035: "sharing: new_role needs transfer: true (a dependency between two body values)",
    107003: "sharing: the user named is the caller (depends on who is signed in)",
    107007: "sharing: no user of that name in the caller's organization",
    107011: "unsharing: the user named has no access to the node",
    107023: "sharing request: accepted, declined, cancelled or expired already",
    107025: "sharing request: declined already, so it cannot be removed",
    107027: "sharing: the caller is not primary of every node",
    # group sharing
    107028: "mapping remove: the node is reached through a shared group only (leave the "
            "group instead)",
    108037: "group sharing request: accepted, declined, cancelled or expired already",
    108039: "group sharing request: declined already, so it cannot be removed",
    108041: "group sharing / node_group: the caller is secondary of the group",
    108045: "DELETE /v1/user/node_group: remove_sharing=true needs user_name (a dependency "
            "between query parameters)",
    108046: "group sharing: the user named is the caller (depends on who is signed in)",
    108050: "group sharing: no user of that name in the caller's organization",
    108052: "group sharing: the caller is not primary of every node the group holds",
    108055: "group unsharing / leave: the share comes from a parent group",
    108071: "group unsharing / leave: the user has no share of the group (or owns it)",
    108112: "group sharing: the same group twice in one request",
    108139: "group sharing: new_role needs transfer: true (a dependency between two body "
            "values)",
    108141: "group transfer: only the owner of a top-level group may transfer it",
    # user device groups
    108030: "GET /v1/user/node_group: group_id and group_name exclude each other",
    108009: "PUT /v1/user/node_group: the new parent is the group or one of its sub-groups",
    108011: "node_group: the parent is at the third level already (or the moved subtree is "
            "too tall)",
    108015: "node_group: the nodes are not all in the parent group",
    108073: "node_group: the parent has 100 sub-groups already",
    # admin device groups
    108059: "POST /v1/admin/node_group: a query (node_type/model/fw_version) excludes "
            "parent_group_id (a dependency between body properties)",
    108060: "PUT /v1/admin/node_group: node_type/model/fw_version cannot be updated (an "
            "undocumented property a generated body may carry)",
    108061: "POST /v1/admin/node_group: a query (node_type/model/fw_version) excludes nodes "
            "(a dependency between body properties)",
    108065: "PUT /v1/admin/node_group: regroup on a group that has no query",
    108067: "PUT /v1/admin/node_group: regroup excludes operation, group_name, description and "
            "type (a dependency between body properties)",
    108076: "PUT /v1/admin/node_group: nodes for a dynamic (query-based) group",
    108149: "POST /v1/admin/node_group: the parent group is a dynamic group",
    108150: "PUT /v1/admin/node_group: removing nodes the group does not hold",
    108901: "admin node_group: FFFF-FFFF (every node) is read-only; the id pattern admits it",
    # OTA images and jobs
    104004: "OTA image: no fw_version in the body and no ESP app description in the bytes "
            "(depends on the image's content)",
    104005: "OTA image: no model in the body and no ESP app description in the bytes",
    104032: "OTA upload_confirm / new job: the image's bytes were not uploaded (confirmed) yet",
    104034: "POST /v1/admin/otajob: the image is archived",
    104901: "PUT /v1/ota/upload: Content-MD5 is not the MD5 of the bytes sent",
    104902: "OTA upload_confirm: the uploaded bytes' MD5 is not the upload request's "
            "md5_checksum",
    105036: "POST /v1/user/nodes/ota_update: the job does not target the node",
    105048: "POST /v1/admin/otajob: no target node exists (groups with no nodes)",
    105052: "POST /v1/admin/otajob: node_type/node_model/node_fw_version exclude nodes and "
            "groups (a dependency between body properties)",
    105061: "POST /v1/user/nodes/ota_update: the job is over, not due, or done by the node",
    105079: "POST /v1/admin/otajob/retrigger: a user-approval job is not retriggered",
    105900: "POST /v1/admin/otajob: download_window start equals end (a dependency between "
            "two body values)",
    105901: "POST /v1/admin/otajob: validity end is not after start (idem)",
    # what does not exist or exists already: RainMaker answers 400 for these where 404 or
    # 409 would be usual (docs/rainmaker-errors.md)
    100010: "a node that does not exist or is not the caller's",
    100015: "nodes that do not exist",
    103013: "no user-node mapping for the node",
    103018: "a mapping request that does not exist",
    103020: "the node is not mapped to the user",
    103008: "the node is mapped to another user already",
    104015: "an OTA image that does not exist",
    104008: "the OTA image is used by a job",
    104016: "the OTA image is used by a job",
    104023: "the OTA image is archived already",
    104024: "the OTA image is not archived",
    105005: "an OTA job of that name exists",
    105012: "an OTA job that does not exist",
    108007: "a group of that name exists",
    108012: "admin group nodes that do not exist",
    108013: "group nodes not mapped to the user",
    108023: "a group that does not exist",
    108075: "a dynamic group with that query exists",
    129007: "a policy of that name exists",
    129014: "a role of that name exists",
    129023: "the policy is used by a role",
    129024: "the role is held by a user",
    100004: "not authorized (the role's policies)",
    107085: "not the primary user of every node",
    100011: "a plan limit",
}


def _error_code(response: Any) -> object:
    try:
        return json.loads(response.content).get("error_code")
    except (ValueError, AttributeError):
        return None


@dataclass
class AdminSession:
    """A superadmin's access token that is valid whenever a case is generated."""

    schema: Any
    password: str = PASSWORD
    token: str | None = None
    logins: int = 0
    refused: list[str] = field(default_factory=list)
    succeeded: Counter[str] = field(default_factory=Counter)

    def current(self) -> str:
        if self.token is None:
            case = self.schema["/v1/login2"]["POST"].Case(
                body={"user_name": ADMIN, "password": self.password},
                media_type="application/json")
            response = case.call()
            assert response.status_code == 200, f"cannot sign the fuzzing admin in: {response.text}"
            self.token = str(response.json()["accesstoken"])
            self.logins += 1
        return self.token

    def after_call(self, case: Any, response: Any) -> None:
        sent = (case.headers or {}).get("Authorization")
        if self.token is not None and sent == self.token and response.status_code == 401:
            self.refused.append(f"{case.method} {case.path}: {response.text[:200]}")
        if not 200 <= response.status_code < 300:
            return
        self.succeeded[f"{case.method} {case.path}"] += 1
        body = case.body if isinstance(case.body, dict) else {}
        route = (case.method, case.path.removesuffix("2"))
        if route == ("POST", "/v1/logout"):
            self.token = None
        elif route == ("PUT", "/v1/password"):
            self.password, self.token = body["newpassword"], None
        elif route == ("PUT", "/v1/forgotpassword") and body.get("password") is not None \
                and str(body.get("user_name", "")).strip().lower() == ADMIN:  # null: absent
            self.password, self.token = body["password"], None
        elif route == ("DELETE", "/v1/user") \
                and str((case.query or {}).get("request")).lower() != "true":
            self.token = None  # deleted: the next sign-in fails loudly

    def flatmap_case(self, case: Any) -> Any:
        """Half of the schema-valid password changes give the right current password, so the
        success answer (and ignored_auth's probes after it) are exercised too."""
        if case.path.removesuffix("2") != "/v1/password" or case.meta is None \
                or not case.meta.generation.mode.is_positive or not isinstance(case.body, dict):
            return st.just(case)

        def right_password(use: bool) -> Any:
            if use:
                case.body = {**case.body, "password": self.password}
            return case

        return st.booleans().map(right_password)


@pytest.fixture
def fuzz_settings(settings: Settings) -> Settings:
    """The test database, with sign-in limits far above what a run sends."""
    return with_settings(settings, login_limit_per_ip=1_000_000, login_limit_per_user=1_000_000)


@pytest.fixture
def rest_schema(fuzz_settings: Settings) -> Iterator[Any]:
    container = Container(settings=fuzz_settings)

    async def prepare() -> None:
        await migrate(container)
        await container.registration().provision_user(user_name=ADMIN, password=PASSWORD,
                                                      superadmin=True)
        await container.engine().dispose()  # its connections belong to this event loop

    asyncio.run(prepare())
    app = create_app(fuzz_settings, container=container)
    config: dict[str, Any] = {"generation": {"max-examples": MAX_EXAMPLES},
                              "output": {"sanitization": {"enabled": False}}}
    if SEED != "random":
        config["seed"] = int(SEED)
    try:
        yield schemathesis.openapi.from_asgi("/v1/openapi.json", app,
                                             config=schemathesis.Config.from_dict(config))
    finally:
        asgi.shutdown_lifespans()  # the lifespan disposes the engine in its own loop


@dataclass
class Run:
    cases: Counter[tuple[str, str]] = field(default_factory=Counter)
    failures: dict[tuple[str, str, str], str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def _describe(event: events.ScenarioFinished, case_id: str, check: Any) -> str:
    info = check.failure_info
    interaction = event.recorder.interactions.get(case_id)
    response = getattr(interaction, "response", None)
    answer = (f"{response.status_code} {response.content[:300]!r}" if response is not None
              else "no response")
    return (f"[{event.label or 'stateful'}] {check.name}: {info.failure.title}\n"
            f"{info.failure.message}\n{info.code_sample}\n-> {answer}")


def run_engine(schema: Any) -> Run:
    run = Run()
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            if event.status != Status.SKIP:
                for node in event.recorder.cases.values():
                    run.cases[(node.value.operation.label, event.phase.value)] += 1
            for case_id, checks in event.recorder.checks.items():
                for check in checks:
                    if check.status == Status.FAILURE and check.failure_info is not None:
                        key = (event.label or "stateful", check.name,
                               check.failure_info.failure.title)
                        run.failures.setdefault(key, _describe(event, case_id, check))
        elif isinstance(event, events.NonFatalError | events.FatalError):
            info = getattr(event, "info", None)
            run.errors.append(str(info) if info is not None else repr(event.exception))
    return run


@pytest.mark.timeout(900)  # thousands of generated requests: minutes on a busy machine
def test_rest_compat_conforms_to_its_openapi_document(rest_schema: Any) -> None:
    session = AdminSession(rest_schema)

    @rest_schema.auth(refresh_interval=None)
    class AdminToken:
        def get(self, case: Any, _ctx: Any) -> str | None:
            # optional-credential operations (sign-up) are exercised anonymously
            if case.operation.definition.raw.get("security") != REQUIRED_TOKEN:
                return None
            return session.current()

        def set(self, case: Any, data: str, _ctx: Any) -> None:
            case.headers = {**(case.headers or {}), "Authorization": data}

    @rest_schema.hook("after_call")
    def track_session(_context: Any, case: Any, response: Any) -> None:
        session.after_call(case, response)

    @rest_schema.hook("flatmap_case")
    def sometimes_the_right_password(_context: Any, case: Any) -> Any:
        return session.flatmap_case(case)

    @rest_schema.hook("filter_failure")
    def rainmaker_state_refusals(_context: Any, failure: Any, _case: Any, response: Any) -> bool:
        return not (isinstance(failure, RejectedPositiveData) and response.status_code == 400
                    and _error_code(response) in STATE_DEPENDENT_400)

    document = rest_schema.raw_schema["paths"]
    documented = {f"{method.upper()} {path}" for path, item in document.items()
                  for method in item}

    run = run_engine(rest_schema)

    assert not run.errors, "\n".join(run.errors)
    assert not run.failures, f"{len(run.failures)} distinct failure(s):\n\n" + \
        "\n\n".join(run.failures.values())
    assert not session.refused, "a live token was refused:\n" + "\n".join(session.refused)
    ending = {f"{m} {p}" for m, p in SESSION_ENDING_SUCCESSES}
    assert ending <= set(session.succeeded), \
        f"never succeeded: {sorted(ending - set(session.succeeded))}"
    by_phase: dict[str, set[str]] = defaultdict(set)
    for (label, phase), count in run.cases.items():
        if count:
            by_phase[phase].add(label)
    assert documented, "the document lists no operation"
    for phase in ("coverage", "fuzzing"):
        assert by_phase[phase] == documented, (
            f"{phase}: tested {len(by_phase[phase])} of {len(documented)} operations; "
            f"missing {sorted(documented - by_phase[phase])}")


# --- what the fuzzing found, pinned down --------------------------------------------------------

async def test_a_wrong_method_is_answered_with_every_allowed_method(env: Env) -> None:
    r = await env.client.request("PATCH", "/v1/user2")
    assert r.status_code == 405 and r.json()["error_code"] == 100405
    assert set(r.headers["allow"].split(", ")) == {"GET", "HEAD", "POST", "PUT", "DELETE"}


@pytest.mark.parametrize(("query", "body", "code"), [
    ("", {"refreshtoken": "x" * 513}, 100006),  # longer than documented: was 200
    ("?logout_all=", None, 101036),  # not a documented value: was 200
    ("?logout_all=on", None, 101036),  # idem (TRUE is RainMaker's spelling: accepted)
])
async def test_logout_refuses_what_the_document_excludes(env: Env, query: str,
                                                         body: dict[str, str] | None,
                                                         code: int) -> None:
    token = await env.provision("leaver@example.com")
    r = await env.client.post(f"/v1/logout2{query}", json=body, headers={"Authorization": token})
    assert r.status_code == 400 and r.json()["error_code"] == code, r.text
    assert (await env.client.get("/v1/user2", headers={"Authorization": token})).status_code \
        == 200


async def test_sign_up_checks_every_documented_field(env: Env) -> None:
    r = await env.client.post("/v1/user2", json={"user_name": "new@example.com",
                                                 "password": PASSWORD, "verification_code": 7})
    assert r.status_code == 400 and r.json()["error_code"] == 101030, r.text  # was 201
    r = await env.client.post("/v1/user2", json={"user_name": "  new@example.com ",
                                                 "password": PASSWORD})
    assert r.status_code == 201, r.text  # white space around a user name stays ignored


async def test_sign_up_declares_and_checks_optional_credentials(env: Env) -> None:
    document = (await env.client.get("/v1/openapi.json")).json()
    operation = document["paths"]["/v1/user2"]["post"]
    assert operation["security"] == [{}, {"AccessToken": []}] and "401" in operation["responses"]
    # a header that does not authenticate is ignored, as RainMaker does (a stale session's
    # token); an API key that does not is still 401 (tests/api/test_rainmaker_wire.py)
    r = await env.client.post("/v1/user2", json={"user_name": "new@example.com",
                                                 "password": PASSWORD},
                              headers={"Authorization": "garbage"})
    assert r.status_code == 201, r.text
    r = await env.client.post("/v1/user2", json={"user_name": "key@example.com",
                                                 "password": PASSWORD},
                              headers={"Authorization": "Bearer sk_0000_garbage"})
    assert r.status_code == 401 and r.json()["error_code"] == 100047
