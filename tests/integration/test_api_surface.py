"""The public surface: the seed SDK's names exist, the API is self-describing."""

from __future__ import annotations

import httpx

import sealroom
import sealroom.analytics
import sealroom.sql
from tests.integration.conftest import InProcessPlatform

SEED_TOP_LEVEL = {
    "create_client", "Key", "DataRoomBuilder", "Permissions", "enclave_specifications",
    "Client", "Session", "JobId",
}  # fmt: skip
SEED_ANALYTICS = {
    "AnalyticsDcrBuilder", "TableDataNodeDefinition", "RawDataNodeDefinition", "Column",
    "FormatType", "HashingAlgorithm", "NumericRangeRule", "SqlComputeNodeDefinition",
    "read_input_csv_string", "read_input_csv_file", "AnalyticsDcr",
}  # fmt: skip
SEED_SQL = {
    "TabularDataNodeBuilder", "PrimitiveType", "SqlCompute", "read_input_csv_string",
    "read_input_csv_file", "upload_and_publish_tabular_dataset", "read_sql_query_result_as_string",
}  # fmt: skip
SEED_METHODS = {
    sealroom.Client: {
        "create_session", "create_auth_using_platform_pki", "publish_analytics_dcr",
        "retrieve_analytics_dcr", "get_data_room_descriptions", "upload_dataset",
        "get_available_datasets", "delete_dataset", "platform_pki_authentication",
    },
    sealroom.Session: {
        "publish_data_room", "retrieve_data_room", "retrieve_data_room_status", "stop_data_room",
        "retrieve_audit_log", "publish_dataset", "remove_published_dataset",
        "retrieve_published_datasets", "run_computation", "get_computation_status",
        "wait_until_computation_has_finished", "get_computation_result",
        "run_computation_and_get_results",
    },
    sealroom.Permissions: {
        "leaf_crud", "execute_compute", "retrieve_compute_result", "retrieve_data_room",
        "retrieve_audit_log", "retrieve_data_room_status", "update_data_room_status",
        "retrieve_published_datasets",
    },
}  # fmt: skip


def test_the_seed_names_are_public() -> None:
    assert set(sealroom.__all__) >= SEED_TOP_LEVEL
    assert set(sealroom.analytics.__all__) >= SEED_ANALYTICS
    assert set(sealroom.sql.__all__) >= SEED_SQL
    for name in sealroom.__all__:
        assert getattr(sealroom, name) is not None
    for cls, methods in SEED_METHODS.items():
        missing = {m for m in methods if not hasattr(cls, m)}
        assert not missing, f"{cls.__name__} lacks {missing}"


def test_format_types_are_the_seed_s_and_the_typed_ones() -> None:
    # The seed's seven, so scripts port; then the typed formats of docs/room-definition.md.
    assert {f.name for f in sealroom.analytics.FormatType} == {
        "STRING", "INTEGER", "FLOAT", "EMAIL", "DATE_ISO8601", "PHONE_NUMBER_E164",
        "HASH_SHA256_HEX",
        "DATE", "TIMESTAMP", "TIMESTAMP_TZ", "DECIMAL", "BOOLEAN",
        "MAID", "IPV4_ADDRESS",  # the DataLab's identifier kinds (docs/data-lab.md)
    }  # fmt: skip


def test_health_and_openapi(app_platform: InProcessPlatform) -> None:
    api = httpx.Client(base_url="http://testserver", transport=app_platform.transport)
    assert api.get("/health").json()["status"] == "ok"
    schema = api.get("/openapi.json").json()
    paths = set(schema["paths"])
    for path in (
        "/v1/rooms",
        "/v1/uploads/{upload_id}/chunks/{index}",
        "/v1/jobs/{job_id}",
        "/v1/enclave/attestation",
        "/v1/rooms/{room_id}/audit-log",
    ):
        assert path in paths
    # No page that loads scripts from a CDN (FastAPI's /docs and /redoc do).
    for page in ("/docs", "/redoc", "/docs/oauth2-redirect"):
        assert api.get(page).status_code == 404
    # Unknown routes answer with the same problem shape as everything else.
    missing = api.get("/v1/nope")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["code"] == "not_found"
