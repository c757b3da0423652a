"""The GraphQL schema, composed from the areas' Query, Mutation and Subscription mixins.

Resolvers (in the area modules) translate input, call one use case, and map the result. Each
field names the use cases it calls in its metadata ("uses"), so a test can check that every
field reaches only use cases with a declared permission or an explicit public marker.
"""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)

from graphql_api.access import AccessMutations, AccessQueries
from graphql_api.accounts import AccountMutations, AccountQueries
from graphql_api.admin_groups import AdminGroupMutations, AdminGroupQueries
from graphql_api.billing import BillingMutations, BillingQueries
from graphql_api.errors import DomainErrors, FleetgateSchema
from graphql_api.group_sharing import GroupSharingMutations, GroupSharingQueries
from graphql_api.groups import GroupMutations, GroupQueries
from graphql_api.nodes import NodeMutations, NodeQueries, NodeSubscription
from graphql_api.observability import OperationMetrics, OperationObserver
from graphql_api.ota_images import OtaImageMutations, OtaImageQueries
from graphql_api.ota_jobs import OtaJobMutations, OtaJobQueries, OtaJobSubscription
from graphql_api.ota_updates import OtaUpdateMutations, OtaUpdateQueries
from graphql_api.sharing import SharingMutations, SharingQueries


# Field order in the SDL follows the bases, first to last (the snapshot pins it).
@strawberry.type
class Query(AccessQueries, BillingQueries, OtaImageQueries, OtaJobQueries, OtaUpdateQueries,
            AdminGroupQueries, GroupQueries, GroupSharingQueries, NodeQueries, SharingQueries,
            AccountQueries):
    pass


@strawberry.type
class Subscription(NodeSubscription, OtaJobSubscription):
    pass


@strawberry.type
class Mutation(AccessMutations, BillingMutations, OtaImageMutations, OtaJobMutations,
               OtaUpdateMutations, AdminGroupMutations, GroupMutations, GroupSharingMutations,
               NodeMutations, SharingMutations, AccountMutations):
    pass


def build_schema(*, max_depth: int, max_aliases: int, max_tokens: int,
                 production: bool, observer: OperationObserver | None = None
                 ) -> strawberry.Schema:
    # The limiters' validation rules are built once and shared: they are stateless, and
    # ValidationCache keys on the rule classes, so rules rebuilt per request (what a fresh
    # QueryDepthLimiter does) would make every request re-validate its document.
    rules = [*QueryDepthLimiter(max_depth=max_depth).validation_rules,
             *MaxAliasesLimiter(max_alias_count=max_aliases).validation_rules]
    extensions: list[Any] = [
        lambda: AddValidationRules(rules),
        lambda: MaxTokensLimiter(max_token_count=max_tokens),
        lambda: ParserCache(maxsize=512),
        lambda: ValidationCache(maxsize=512),
        DomainErrors,
    ]
    if production:
        extensions.insert(0, DisableIntrospection)
    if observer is not None:  # first: it sees errors after DomainErrors classified them
        extensions.insert(0, lambda: OperationMetrics(observer))
    return FleetgateSchema(query=Query, mutation=Mutation, subscription=Subscription,
                           extensions=extensions)
