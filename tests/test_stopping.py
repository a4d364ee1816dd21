"""A Ctrl-C is never lost: a KeyboardInterrupt that Python swallows where the
signal happened to land (a ``__del__``, a weakref callback) still stops the run."""

from __future__ import annotations

import gc
import os
import signal
import sys
import threading
import time

import pytest

from cellpipe.engine import stopping


class _SignalsInDel:
    """Sends the signal from its ``__del__``: the KeyboardInterrupt is raised inside
    the finaliser, where Python prints "Exception ignored" and carries on."""

    def __del__(self) -> None:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)  # the handler runs here, inside __del__


def test_a_ctrl_c_swallowed_in_a_finaliser_is_still_seen(monkeypatch):
    swallowed: list[type[BaseException]] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: swallowed.append(u.exc_type))
    with stopping.handled():
        obj = _SignalsInDel()
        del obj
        gc.collect()
        assert swallowed == [KeyboardInterrupt]  # Python swallowed it ("Exception ignored in ...")
        assert stopping.requested() == signal.SIGINT
        with pytest.raises(KeyboardInterrupt):
            stopping.check()
    # leaving the outermost scope forgets the request; Python's own Ctrl-C handler is back
    assert stopping.requested() is None
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_nested_scopes_keep_a_request_for_the_runs_after_it():
    with stopping.handled(signal.SIGINT):  # the CLI's command (a sweep)
        with pytest.raises(KeyboardInterrupt), stopping.handled():  # one trial's run
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)
        with stopping.handled():  # the next trial: stops at its first turn
            with pytest.raises(KeyboardInterrupt):
                stopping.check()


def test_a_caller_that_ignores_sigint_keeps_its_choice():
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with stopping.handled():
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.mark.kernel
def test_a_run_whose_ctrl_c_was_swallowed_still_stops_interrupted(tmp_path, monkeypatch, capsys):
    from cellpipe.cli.main import main
    from test_interrupt import project, run_states, step_state, wait_until

    root = project(tmp_path)  # its step `slow` waits while the file `slow` exists
    monkeypatch.chdir(root)

    def swallowed_ctrl_c() -> None:
        wait_until(lambda: step_state(root, "slow") == "running")
        try:  # the run's own SIGINT handler, run where its KeyboardInterrupt is lost to the run
            signal.getsignal(signal.SIGINT)(signal.SIGINT, None)
        except KeyboardInterrupt:
            pass
        time.sleep(60)
        (root / "slow").unlink(missing_ok=True)  # without the fix the run would wait for ever: end it

    threading.Thread(target=swallowed_ctrl_c, daemon=True).start()
    code = main(["run", "flow.ipynb", "--json"])
    assert code == 130, capsys.readouterr()
    assert run_states(root) == ["interrupted"] and step_state(root, "slow") == "interrupted"


def test_a_second_ctrl_c_while_the_first_is_acted_on_is_noted_a_third_raises():
    with stopping.handled():
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)
        # the run is stopping (or printing its summary): the second Ctrl-C does not break that off
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.2)
        assert stopping.requested() == signal.SIGINT
        with pytest.raises(KeyboardInterrupt):  # the third: out now
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)
