import pytest, subprocess, sys
@pytest.fixture(scope="module")
def boom():
    subprocess.run([sys.executable, "-c", "pass"])
    raise AssertionError("x")
def test_a(boom): pass
