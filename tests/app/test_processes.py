"""What the runner's kill of a training process reaches: its group, and processes below it in
sessions of their own (as torchrun starts its ranks)."""

from __future__ import annotations

import subprocess
import sys

from app.processes import descendants, kill_process_tree
from model.files import pid_alive
from tests.support.waiting import wait_for

# A child in a session of its own that starts a grandchild in another one, prints its pid and waits.
TREE = """
import subprocess, sys, time
grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
print(grandchild.pid, flush=True)
time.sleep(60)
"""


def test_kill_process_tree_reaches_processes_in_other_sessions():
    child = subprocess.Popen([sys.executable, "-c", TREE], stdout=subprocess.PIPE, start_new_session=True)
    grandchild = int(child.stdout.readline())
    assert descendants(child.pid) == [grandchild]
    kill_process_tree(child)
    assert child.wait(10) == -9
    wait_for(lambda: not pid_alive(grandchild), 10, what="the grandchild to die")
    child.stdout.close()
    kill_process_tree(child)  # reaped already: nothing to do, nothing raised
