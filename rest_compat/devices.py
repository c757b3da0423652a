"""Device provisioning on the wire: an admin's one-time registration token, and the device's
exchange of it for its identity (no user auth: the token is the credential)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from domain.devices.use_cases import DeviceUseCases
from rest_compat import schemas as s
from rest_compat.http import Authenticate, anonymous_caller, caller_for, json_body, success
from rest_compat.operations import Operation

TAG = "Device Provisioning"
NODE_NAME = {"type": "string", "minLength": 1, "maxLength": 128,
             "pattern": f"^[^{s.CONTROL}]*[^{s.CONTROL}{s.WHITESPACE}][^{s.CONTROL}]*$"}
REGISTRATION_TOKEN_REQUEST = s.obj({
    "node_name": NODE_NAME,
    "expires_in_minutes": {"type": "integer", "minimum": 1, "maximum": 10080, "default": 60}},
    ("node_name",))
REGISTRATION_TOKEN_RESPONSE = s.obj({
    "status": {"type": "string", "enum": ["success"]}, "description": s.STR,
    "token": s.STR, "token_id": s.STR, "node_name": s.STR, "expires_at": s.STR},
    ("status", "token", "token_id", "expires_at"))
PROVISION_REQUEST = s.obj({
    "token": {"type": "string", "pattern": "^nrt_[A-Za-z0-9_-]{1,196}$"},
    "public_key": {"type": "string", "minLength": 1, "maxLength": 4096,
                   "pattern": "^-----BEGIN PUBLIC KEY-----[A-Za-z0-9+/=\\r\\n]+"
                              "-----END PUBLIC KEY-----\\s*$",
                   "description": "the node's own public key (PEM; EC P-256/P-384 or RSA >= "
                                  "2048 bit), for challenge-response mapping and proxied "
                                  "node payloads"}},
    ("token",))
MQTT_HOST = s.obj({"mqtt_host": s.STR}, ("mqtt_host",))
PROVISION_RESPONSE = s.obj({
    "status": {"type": "string", "enum": ["success"]}, "description": s.STR, "node_id": s.STR,
    "mqtt_username": s.STR, "mqtt_password": s.STR, "secret_key": s.STR},
    ("status", "node_id", "mqtt_username", "mqtt_password", "secret_key"))


def device_operations(devices: DeviceUseCases, authenticate: Authenticate,
                      max_body: int) -> list[Operation]:
    provisioning = devices.provisioning

    async def create_token(request: Request) -> Response:
        caller = await caller_for(request, authenticate, required=True)
        body = await json_body(request, max_bytes=max_body, schema=REGISTRATION_TOKEN_REQUEST)
        issued = await provisioning.create_registration_token(
            caller, node_name=body["node_name"],
            expires_in_minutes=int(body.get("expires_in_minutes", 60)))  # 64.0 is an integer
        return success("Registration token created; it is shown once", 201,
                       token=issued.token, token_id=issued.record.id,
                       node_name=issued.record.node_name,
                       expires_at=issued.record.expires_at.isoformat())

    async def provision(request: Request) -> Response:
        body = await json_body(request, max_bytes=max_body, schema=PROVISION_REQUEST)
        node = await provisioning.provision_node(anonymous_caller(request), token=body["token"],
                                                 public_key=body.get("public_key"))
        return success("Node provisioned", node_id=node.node_id,
                       mqtt_username=node.mqtt_username, mqtt_password=node.mqtt_password,
                       secret_key=node.secret_key)

    async def mqtt_host(request: Request) -> Response:
        return JSONResponse({"mqtt_host": await devices.endpoint.mqtt_host(
            anonymous_caller(request))})

    return [
        Operation(method="GET", path="/mqtt_host", handler=mqtt_host,
                  operation_id="getIOTEndPoint", tag="IOT Endpoint", public=True, auth=False,
                  summary="The MQTT endpoint (host:port) devices connect to",
                  uses=(devices.endpoint.mqtt_host,), responses={200: MQTT_HOST}),
        Operation(method="POST", path="/v1/admin/nodes/registration_token", handler=create_token,
                  operation_id="createNodeRegistrationToken", tag=TAG,
                  summary="Create a one-time registration token for a node (admin)",
                  uses=(provisioning.create_registration_token,),
                  request_body=REGISTRATION_TOKEN_REQUEST,
                  responses={201: REGISTRATION_TOKEN_RESPONSE}),
        Operation(method="POST", path="/v1/devices/provision", handler=provision,
                  operation_id="provisionNode", tag=TAG, public=True, auth=False,
                  summary="Exchange a registration token for the node's id and secrets",
                  uses=(provisioning.provision_node,), request_body=PROVISION_REQUEST,
                  extra_statuses=(401,),
                  responses={200: PROVISION_RESPONSE}),
    ]
