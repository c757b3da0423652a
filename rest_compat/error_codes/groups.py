"""RainMaker's status and error_code of the groups reasons: user device groups, then
admin device groups (the user groups' reasons apply to them too)."""

REASONS: dict[str, tuple[int, int]] = {
    "group_name_missing": (400, 108001),
    "invalid_group_name": (400, 108002),
    "invalid_group_nodes": (400, 108003),
    "group_name_exists": (400, 108007),
    "group_parent_cycle": (400, 108009),
    "group_too_deep": (400, 108011),
    "group_nodes_not_mapped": (400, 108013),
    "nodes_not_in_parent_group": (400, 108015),
    "group_id_missing": (400, 108016),
    "invalid_group_operation": (400, 108017),
    "group_not_found": (400, 108023),
    "group_update_empty": (400, 108024),
    "invalid_group_description": (400, 108025),
    "group_name_not_found": (404, 108029),
    "group_id_and_name": (400, 108030),
    "too_many_sub_groups": (400, 108073),
    "group_mutually_exclusive": (409, 108900),  # Fleetgate's own: RainMaker has no code
    # admin device groups (the group reasons above apply too)
    "admin_group_nodes_not_found": (400, 108012),
    "group_query_with_parent": (400, 108059),
    "group_query_in_update": (400, 108060),
    "group_query_with_nodes": (400, 108061),
    "group_query_no_nodes": (404, 108063),
    "regroup_static_group": (400, 108065),
    "regroup_with_fields": (400, 108067),
    "group_query_exists": (400, 108075),
    "dynamic_group_nodes": (400, 108076),
    "dynamic_group_parent": (400, 108149),
    "nodes_not_in_group": (400, 108150),
    "all_nodes_group_read_only": (400, 108901),  # Fleetgate's own: FFFF-FFFF is virtual
}
