"""``concerto psc-standin`` (the README's recipe) serves a provider on loopback."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import requests

from tests.builders import PRODUCTION_ENV


def test_command_serves_discovery_and_jwks():
    env = {k: v for k, v in os.environ.items() if k != "CONCERTO_MODE"}
    process = subprocess.Popen(
        [sys.executable, "-m", "concerto", "psc-standin", "--port", "0", "--userinfo", "jwt"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        issuer = None
        for _ in range(10):
            line = process.stdout.readline()
            found = re.search(r"\(PSC_ISSUER\) : (\S+)", line)
            if found:
                issuer = found.group(1)
                break
        assert issuer and issuer.startswith("http://127.0.0.1:")
        assert issuer.endswith("/auth/realms/esante-wallet")
        metadata = requests.get(
            issuer + "/.well-known/wallet-openid-configuration", timeout=10
        ).json()
        assert metadata["issuer"] == issuer
        assert metadata["acr_values_supported"] == ["eidas1"]
        assert metadata["code_challenge_methods_supported"] == ["S256"]
        keys = requests.get(metadata["jwks_uri"], timeout=10).json()["keys"]
        assert keys[0]["kty"] == "RSA" and "d" not in keys[0]  # public half only
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout:
            process.stdout.close()
        if process.stderr:
            process.stderr.close()


def test_command_refused_in_production():
    env = {**os.environ, **PRODUCTION_ENV}
    result = subprocess.run(
        [sys.executable, "-m", "concerto", "psc-standin", "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "refusé en production" in result.stderr
