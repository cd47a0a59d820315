import subprocess
import sys

import pytest

from ktn_cli.common import package_version


@pytest.mark.parametrize("prog", ["ktn", "ktn-kg"])
def test_cli_help_and_version(prog):
    bindir = __import__("pathlib").Path(sys.executable).parent
    out = subprocess.run([bindir / prog, "--help"], capture_output=True, text=True, check=True).stdout
    assert "Usage" in out
    out = subprocess.run([bindir / prog, "--version"], capture_output=True, text=True, check=True).stdout
    assert out.strip() == f"{prog} {package_version()}"
