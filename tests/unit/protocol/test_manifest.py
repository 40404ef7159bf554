from __future__ import annotations

import pytest

from perdure.protocol.manifest import (
    EndpointManifest,
    HandlerManifest,
    InputSpec,
    ManifestError,
    Options,
    RetryPolicySpec,
    ServiceManifest,
)
from perdure.protocol.versions import (
    choose_protocol_version,
    manifest_accept_header,
    negotiate_manifest_version,
    parse_protocol_content_type,
    protocol_content_type,
)


def test_manifest_negotiation_picks_the_highest_common_version() -> None:
    assert negotiate_manifest_version(manifest_accept_header()) == 4
    assert negotiate_manifest_version(manifest_accept_header((1, 2, 3))) == 3
    assert negotiate_manifest_version(manifest_accept_header((1,))) is None
    assert negotiate_manifest_version(None) == 2


def test_protocol_version_choice_follows_the_real_server() -> None:
    # perdure drives V7 where a deployment offers it (restate-server 1.7 with its
    # experimental V7 switch on); with a ceiling of 6, as restate-server does by default.
    assert choose_protocol_version(5, 7) == 7
    assert choose_protocol_version(5, 7, 6) == 6
    assert choose_protocol_version(5, 5) == 5
    assert choose_protocol_version(7, 7) == 7
    assert choose_protocol_version(7, 7, 6) is None
    assert choose_protocol_version(8, 8) is None
    assert choose_protocol_version(1, 4) is None
    assert parse_protocol_content_type(protocol_content_type(6)) == 6
    assert parse_protocol_content_type("application/json") is None
    assert parse_protocol_content_type(None) is None


def _manifest(options: Options) -> EndpointManifest:
    handler = HandlerManifest("greet", "EXCLUSIVE", InputSpec.none(), options=options)
    return EndpointManifest(
        "REQUEST_RESPONSE", 5, 6, (ServiceManifest("Greeter", "VIRTUAL_OBJECT", (handler,)),)
    )


def test_manifest_json_shape_and_round_trip() -> None:
    manifest = _manifest(Options(inactivity_timeout_ms=1000))
    data = manifest.to_json(3)
    assert data["protocolMode"] == "REQUEST_RESPONSE"
    handler = data["services"][0]["handlers"][0]  # type: ignore[index]
    assert handler["input"] == {}
    assert handler["inactivityTimeout"] == 1000
    assert EndpointManifest.from_json(data) == manifest


def test_fields_newer_than_the_negotiated_version_are_refused() -> None:
    with pytest.raises(ManifestError, match="v3"):
        _manifest(Options(inactivity_timeout_ms=1000)).to_json(2)
    with pytest.raises(ManifestError, match="v4"):
        _manifest(Options(retry_policy=RetryPolicySpec(max_attempts=3))).to_json(3)
    assert "retryPolicyMaxAttempts" in str(
        _manifest(Options(retry_policy=RetryPolicySpec(max_attempts=3))).to_json(4)
    )


def test_the_official_python_sdk_shape_parses() -> None:
    data = {
        "protocolMode": "BIDI_STREAM",
        "minProtocolVersion": 5,
        "maxProtocolVersion": 7,
        "services": [
            {
                "name": "Counter",
                "ty": "VIRTUAL_OBJECT",
                "handlers": [
                    {
                        "name": "add",
                        "input": {"required": False, "contentType": "application/json"},
                        "output": {
                            "setContentTypeIfEmpty": False,
                            "contentType": "application/json",
                        },
                        "unknownField": 1,
                    },
                    {"name": "get", "ty": "SHARED"},
                ],
            },
            {"name": "wf", "ty": "WORKFLOW", "handlers": [{"name": "run"}]},
        ],
    }
    manifest = EndpointManifest.from_json(data)
    counter, wf = manifest.services
    assert [h.ty for h in counter.handlers] == ["EXCLUSIVE", "SHARED"]
    assert wf.handlers[0].ty == "WORKFLOW"


@pytest.mark.parametrize(
    "data",
    [
        [],
        {"minProtocolVersion": 5, "maxProtocolVersion": 6, "services": []},
        {
            "protocolMode": "BIDI_STREAM",
            "minProtocolVersion": 6,
            "maxProtocolVersion": 5,
            "services": [],
        },
        {"protocolMode": "BIDI_STREAM", "minProtocolVersion": 5, "maxProtocolVersion": 6},
        {
            "protocolMode": "BIDI_STREAM",
            "minProtocolVersion": 5,
            "maxProtocolVersion": 6,
            "services": [{"name": "bad name", "ty": "SERVICE", "handlers": []}],
        },
        {
            "protocolMode": "BIDI_STREAM",
            "minProtocolVersion": 5,
            "maxProtocolVersion": 6,
            "services": [
                {"name": "S", "ty": "SERVICE", "handlers": [{"name": "h", "ty": "SHARED"}]}
            ],
        },
    ],
)
def test_malformed_manifests_are_rejected(data: object) -> None:
    with pytest.raises(ManifestError):
        EndpointManifest.from_json(data)
