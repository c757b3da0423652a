"""RainMaker's status and error_code for each finer domain reason, one table per area
(from Rainmaker_Swagger.yaml); rest_compat/errors.py merges them."""
