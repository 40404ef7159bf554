"""Server configurations and profiles, and a server + registered services ("stack") per pair.

A *configuration* is one of the three server settings every scenario runs under (Restate's e2e
suites `default`, `alwaysSuspending`, `lazyState`). A *profile* adds what a few scenarios need on
top and must not impose on the others: a retry policy that kills after one attempt (journal
mismatch), one that pauses, or request signing. Profiles other than `main` start lazily, only
when a test asks for them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tests.support.registration import register

from .endpoint import ServicesProcess
from .servers import ServerUnderTest, make_server

INACTIVITY_TIMEOUT = "RESTATE_WORKER__INVOKER__INACTIVITY_TIMEOUT"

CONFIGS: Mapping[str, Mapping[str, str]] = {
    "default": {},
    "always-suspending": {INACTIVITY_TIMEOUT: "0s"},
    "lazy-state": {"RESTATE_WORKER__INVOKER__DISABLE_EAGER_STATE": "true"},
}


@dataclass(frozen=True)
class Profile:
    name: str
    env: Mapping[str, str]
    signed: bool = False  # register the signature-checking mount, sign with the session key


MAIN = Profile("main", {})
# NonDeterminismErrors: a journal mismatch must fail the invocation at once (Restate's e2e sets
# exactly this). A mismatch only shows on replay, so this profile always suspends, whatever the
# configuration: without a suspension the handler never replays and never diverges.
STRICT = Profile(
    "strict",
    {
        "RESTATE_DEFAULT_RETRY_POLICY__MAX_ATTEMPTS": "1",
        "RESTATE_DEFAULT_RETRY_POLICY__ON_MAX_ATTEMPTS": "kill",
        "RESTATE_DEFAULT_RETRY_POLICY__INITIAL_INTERVAL": "1ms",
        INACTIVITY_TIMEOUT: "0s",
    },
)
# Pause/resume: retries exhausted quickly, then pause.
PAUSING = Profile(
    "pausing",
    {
        "RESTATE_DEFAULT_RETRY_POLICY__MAX_ATTEMPTS": "2",
        "RESTATE_DEFAULT_RETRY_POLICY__ON_MAX_ATTEMPTS": "pause",
        "RESTATE_DEFAULT_RETRY_POLICY__INITIAL_INTERVAL": "10ms",
        "RESTATE_DEFAULT_RETRY_POLICY__MAX_INTERVAL": "10ms",
    },
)
SIGNING = Profile("signing", {}, signed=True)


@dataclass
class Stack:
    config: str
    profile: Profile
    server: ServerUnderTest
    services: ServicesProcess
    service_names: list[str]

    def stop(self) -> None:
        # The services process is the session's; only the server belongs to this stack.
        self.server.stop()


def start_stack(workdir: Path, config: str, profile: Profile, services: ServicesProcess) -> Stack:
    env = {**CONFIGS[config], **profile.env}
    if profile.signed:
        env["RESTATE_REQUEST_IDENTITY_PRIVATE_KEY_PEM_FILE"] = str(
            services.signing.private_pem_file
        )
    server = make_server(workdir, env)
    try:
        server.start()
        uri = services.signed_uri if profile.signed else services.uri
        names = register(server.admin_url, server.ingress_url, uri)
    except BaseException:
        server.stop()
        raise
    return Stack(config, profile, server, services, names)
