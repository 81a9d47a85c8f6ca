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


def test_the_solution_cell_magic_runs_the_cell_in_the_notebook_namespace(monkeypatch):
    from IPython.core.interactiveshell import InteractiveShell

    glued = {}
    monkeypatch.setattr(notebook, "glue", lambda name, value, **kw: glued.__setitem__(name, value))
    shell = InteractiveShell.instance()
    try:
        notebook._register_solution_magic()
        shell.user_ns["base"] = 1
        shell.run_cell_magic("solution", "ex2", "twice = 2 * base\nprint(twice)")
        assert shell.user_ns["twice"] == 2 and glued["ex2_output"].data == "```text\n2\n```"
        with pytest.raises(ValueError, match="needs a name"):
            shell.run_cell_magic("solution", " ", "pass")
    finally:
        InteractiveShell.clear_instance()
