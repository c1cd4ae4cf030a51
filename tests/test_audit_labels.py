"""An organiser reading the audit log sees every action in words: each action confapp's code
writes has a label, and the page and its filter use them."""

from __future__ import annotations

import ast
import fnmatch
from dataclasses import dataclass, field
from pathlib import Path

from starlette.testclient import TestClient

from confapp.admin.accounts.audit_log import AUDIT_ACTION_LABELS, action_label
from confapp.db import Database
from confapp.models import AuditEntry
from confapp.programme.queries import get_conference
from tests.support import DEMO
from tests.support.accounts import sign_in_organiser

SOURCE = Path(__file__).resolve().parent.parent / "confapp"


@dataclass
class WrittenActions:
    exact: set[str] = field(default_factory=set)
    patterns: set[str] = field(default_factory=set)  # f-strings, their values as `*`


def _called_name(call: ast.Call) -> str:
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return ""


Function = ast.FunctionDef | ast.AsyncFunctionDef


def _innermost_functions(tree: ast.AST) -> dict[ast.AST, Function]:
    owner: dict[ast.AST, Function] = {}
    for function in ast.walk(tree):  # outside in, so an inner function is written last
        if isinstance(function, Function):
            for node in ast.walk(function):
                if node is not function:
                    owner[node] = function
    return owner


def _positional_parameters(function: Function) -> list[str]:
    return [a.arg for a in [*function.args.posonlyargs, *function.args.args]]


# Calls that call their first argument with the rest, as `anyio.to_thread.run_sync` does.
_HANDING_ON = {"run_sync", "run_in_threadpool", "partial"}


def _action_arguments(
    tree: ast.AST, recorders: dict[str, tuple[int, str]]
) -> list[tuple[ast.Call, ast.expr]]:
    """(call, the expression given as its action) for each call to a recorder: directly, or
    handed on as `run_sync(recorder, a, b)`."""
    found: list[tuple[ast.Call, ast.expr]] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        arguments: list[ast.expr] | None = None
        name = _called_name(node)
        keywords = {k.arg: k.value for k in node.keywords}
        if name in recorders:
            arguments = list(node.args)
        elif name in _HANDING_ON:
            for index, argument in enumerate(node.args):
                if isinstance(argument, ast.Name) and argument.id in recorders:
                    name, arguments = argument.id, list(node.args[index + 1 :])
                    break
        if arguments is None:
            continue
        position, keyword = recorders[name]
        if keyword in keywords:
            found.append((node, keywords[keyword]))
        elif position < len(arguments):
            found.append((node, arguments[position]))
    return found


@dataclass
class Source:
    path: Path
    functions: dict[str, list[Function]]  # every module's, by name


def _assigned_to(name: str, function: ast.AST) -> list[ast.expr]:
    """What `name` is set to in `function`, also as one of `a, b = x, y`."""
    values: list[ast.expr] = []
    for node in ast.walk(function):
        if not isinstance(node, ast.Assign):
            continue
        for target in node.targets:
            if isinstance(target, ast.Name) and target.id == name:
                values.append(node.value)
            elif isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple):
                values += [
                    value
                    for element, value in zip(target.elts, node.value.elts, strict=False)
                    if isinstance(element, ast.Name) and element.id == name
                ]
    return values


def _strings(
    expression: ast.expr, function: ast.AST | None, source: Source, into: WrittenActions
) -> None:
    """Add what `expression` can be as an action."""
    where = f"{source.path.relative_to(SOURCE.parent)}:{expression.lineno}"
    if isinstance(expression, ast.Constant) and isinstance(expression.value, str):
        into.exact.add(expression.value)
    elif isinstance(expression, ast.JoinedStr):
        into.patterns.add(
            "".join(
                str(part.value) if isinstance(part, ast.Constant) else "*"
                for part in expression.values
            )
        )
    elif isinstance(expression, ast.IfExp):
        _strings(expression.body, function, source, into)
        _strings(expression.orelse, function, source, into)
    elif isinstance(expression, ast.Name) and function is not None:
        assigned = _assigned_to(expression.id, function)
        assert assigned, f"cannot tell which action {expression.id} is ({where})"
        for value in assigned:
            _strings(value, function, source, into)
    elif isinstance(expression, ast.Call) and source.functions.get(_called_name(expression)):
        # An action a function works out, as in `session_action(...)`: whatever it returns.
        for called in source.functions[_called_name(expression)]:
            for node in ast.walk(called):
                if isinstance(node, ast.Return) and node.value is not None:
                    _strings(node.value, called, source, into)
    else:
        raise AssertionError(f"cannot tell which action {where} writes")


def actions_written_in(folder: Path) -> WrittenActions:
    """Every action confapp passes to confapp.accounts.audit.record, directly or through a
    module's own helper that hands one of its parameters on as the action."""
    written = WrittenActions()
    trees = {path: ast.parse(path.read_text(), filename=str(path)) for path in folder.rglob("*.py")}
    functions: dict[str, list[Function]] = {}
    for tree in trees.values():
        for node in ast.walk(tree):
            if isinstance(node, Function):
                functions.setdefault(node.name, []).append(node)
    # record(session, action, ...); a helper that passes its parameter on is one too, in its
    # own module and any that imports it (by name, so across modules).
    # A private helper (`_audit`) is known in its module only: several modules have one.
    recorders: dict[tuple[Path | None, str], tuple[int, str]] = {(None, "record"): (1, "action")}

    def seen_from(path: Path) -> dict[str, tuple[int, str]]:
        return {
            name: where
            for (home, name), where in sorted(
                recorders.items(), key=lambda item: item[0][0] is not None
            )
            if home in (None, path)
        }

    while True:
        more: dict[tuple[Path | None, str], tuple[int, str]] = {}
        for path, tree in trees.items():
            owner = _innermost_functions(tree)
            known = seen_from(path)
            for call, action in _action_arguments(tree, known):
                function = owner.get(call)
                if function is None or not isinstance(action, ast.Name):
                    continue
                parameters = _positional_parameters(function)
                home = path if function.name.startswith("_") else None
                if action.id in parameters and (home, function.name) not in recorders:
                    more[(home, function.name)] = (parameters.index(action.id), action.id)
        if not more:
            break
        recorders.update(more)
    for path, tree in sorted(trees.items()):
        owner = _innermost_functions(tree)
        known = seen_from(path)
        for call, action in _action_arguments(tree, known):
            function = owner.get(call)
            if (
                function is not None
                and isinstance(action, ast.Name)
                and function.name in known
                and action.id in _positional_parameters(function)
            ):
                continue  # a helper handing on its parameter: its callers say which
            _strings(action, function, Source(path, functions), written)
    return written


def test_every_action_confapp_writes_to_the_audit_log_has_a_label() -> None:
    written = actions_written_in(SOURCE)
    # The scan finds what it should: direct calls, helpers, conditional and f-string actions.
    assert {"checkin_undone", "signed in", "viewed registrations", "hid ticket type"} <= (
        written.exact
    )
    assert {"changed payment to *", "viewed * report"} <= written.patterns

    unlabelled = sorted(written.exact - set(AUDIT_ACTION_LABELS))
    assert not unlabelled, unlabelled
    for pattern in written.patterns:
        assert fnmatch.filter(AUDIT_ACTION_LABELS, pattern), pattern


def test_the_programme_and_door_device_actions_have_labels() -> None:
    for action in [
        "programme_session_added",
        "programme_session_changed",
        "programme_session_cancelled",
        "programme_session_restored",
        "programme_session_deleted",
        "programme_record_added",
        "programme_record_changed",
        "programme_record_deleted",
        "programme_published",
        "programme_changes_published",
        "programme_changes_discarded",
        "programme_mode_changed",
        "door_device_added",
        "door_device_revoked",
    ]:
        assert action in AUDIT_ACTION_LABELS, action
    assert "_" not in "".join(AUDIT_ACTION_LABELS.values())


def test_an_action_without_a_label_still_reads_as_words() -> None:
    assert action_label("checkin_undone") == "Undid a check-in"
    assert action_label("speaker_photo_replaced") == "Speaker photo replaced"
    assert action_label("sent  a_postcard") == "Sent a postcard"


def test_the_audit_page_and_its_filter_show_labels_not_raw_names(
    client: TestClient, db: Database
) -> None:
    sign_in_organiser(client, db)
    with db.transaction() as session:
        conference = get_conference(session, DEMO)
        assert conference is not None
        for action in ("checkin_undone", "speaker_photo_replaced"):
            session.add(
                AuditEntry(actor="steward@example.org", action=action, conference_id=conference.id)
            )

    page = client.get(f"/admin/{DEMO}/audit").text
    assert "<td>Undid a check-in</td>" in page
    assert "<td>Speaker photo replaced</td>" in page
    assert '<option value="checkin_undone">Undid a check-in</option>' in page
    assert "checkin_undone</td>" not in page

    filtered = client.get(f"/admin/{DEMO}/audit", params={"action": "checkin_undone"})
    assert filtered.status_code == 200
    assert filtered.text.count("<td>Undid a check-in</td>") == 1
    assert "Speaker photo replaced</td>" not in filtered.text
