"""RainMaker's status and error_code for each finer domain reason, one table per area
(from Rainmaker_Swagger.yaml, with the status it lists for each code; checked by
tests/test_rainmaker_error_statuses.py); rest_compat/errors.py merges them."""
