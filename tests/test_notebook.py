"""cnnlib.notebook: the helpers every chapter uses."""

from __future__ import annotations

import pytest

import cnnlib.notebook as notebook


def test_solution_runs_the_code_it_shows_and_glues_both(monkeypatch):
    glued = {}
    monkeypatch.setattr(notebook, "glue", lambda name, value, **kw: glued.__setitem__(name, value))
    namespace = {"base": 40}
    printed = notebook.solution("ex", "answer = base + 2\nprint(f'the answer is {answer}')\n", namespace)
    assert printed == "the answer is 42" and namespace["answer"] == 42  # ran in the chapter's namespace
    assert glued["ex_code"].data == "```python\nanswer = base + 2\nprint(f'the answer is {answer}')\n```"
    assert glued["ex_output"].data == "```text\nthe answer is 42\n```"


def test_solution_errors_are_not_swallowed(monkeypatch):
    monkeypatch.setattr(notebook, "glue", lambda *a, **kw: None)
    with pytest.raises(ZeroDivisionError):
        notebook.solution("bad", "1 / 0", {})
