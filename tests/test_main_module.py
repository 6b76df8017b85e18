import subprocess
import sys


def test_python_dash_m_runs_the_cli():
    done = subprocess.run(
        [sys.executable, "-m", "jaxrl", "train", "ppo", "--no-such-flag"], capture_output=True, text=True
    )
    assert done.returncode == 2
    assert "--no-such-flag" in done.stderr.strip().splitlines()[-1]
