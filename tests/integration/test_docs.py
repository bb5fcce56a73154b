"""The generated references in docs/ must match the code that generates
them: a new option or command without `make docs` fails here."""

import os
import subprocess

from harness import server as srv

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def generated(flag):
    return subprocess.run([srv.binary("parleyd"), flag], check=True,
                          capture_output=True, text=True).stdout


def test_configuration_reference_is_current():
    with open(os.path.join(ROOT, "docs", "configuration.md")) as f:
        assert f.read() == generated("--config-reference"), \
            "docs/configuration.md is stale: run `make docs`"


def test_admin_reference_is_current():
    with open(os.path.join(ROOT, "docs", "admin.md")) as f:
        text = f.read()
    assert text == generated("--commands-reference"), "docs/admin.md is stale: run `make docs`"
    # Every command has a parleyctl and a curl example.
    for line in text.splitlines():
        if line.startswith("## "):
            name = line[3:].strip()
            assert "$ parleyctl %s" % name in text
            assert "/api/%s\n" % name in text
