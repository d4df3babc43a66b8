"""The OpenAPI schema class for every API view (REST_FRAMEWORK's DEFAULT_SCHEMA_CLASS)."""

from drf_spectacular.openapi import AutoSchema


class PromptyardAutoSchema(AutoSchema):
    """Names a GET on a collection `…_list` and a GET on one object `…_retrieve`.

    drf-spectacular guesses "list" only for list mixins or `many=True` responses, so a plain
    APIView serving `/things/` and another serving `/things/{id}/` would get the same
    operationId; the path's shape settles it instead.
    """

    def get_operation_id(self):
        operation_id = super().get_operation_id()
        if self.method != "GET" or not operation_id.endswith("_retrieve"):
            return operation_id
        if self.path.rstrip("/").endswith("}"):
            return operation_id
        return operation_id[: -len("_retrieve")] + "_list"
