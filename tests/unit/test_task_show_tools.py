"""``smolit task show`` prints a task's tool calls."""

from __future__ import annotations

import pytest

from smolit.cli.task_cmd import print_task

TASK = {
    "id": "t1",
    "status": "succeeded",
    "agent": "maths",
    "answer": "42",
    "tool_calls": [
        {
            "seq": 1,
            "name": "calculator",
            "arguments": {"expression": "6*7"},
            "excerpt": "42",
            "is_error": False,
            "duration_s": 0.002,
            "note": None,
        },
        {
            "seq": 2,
            "name": "send",
            "arguments": {"to": "***"},
            "excerpt": "Error: this call may have run before the crash; not repeated",
            "is_error": True,
            "duration_s": 0.0,
            "note": "this call may have run before the crash; not repeated",
        },
    ],
}


def test_task_show_prints_each_call_with_its_result(capsys: pytest.CaptureFixture[str]) -> None:
    print_task(TASK)
    out = capsys.readouterr().out
    assert "tool calls (2)" in out
    assert '1. calculator({"expression": "6*7"})  0.002 s' in out
    assert "-> 42" in out
    assert '2. send({"to": "***"})  0.000 s  ERROR' in out
    assert "note: this call may have run before the crash; not repeated" in out
