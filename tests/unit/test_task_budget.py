"""The roles' task counts stay where they were put on purpose.

A no-change `site.yml` (the scheduled drift run) executes or skips every task of every role, and
each one costs time on every host: about 0.1 s skipped, 0.5-1 s when it runs a module (measured in
docs/benchmarks.md). Tasks creep back one at a time, so each role's count is recorded in
tests/unit/task_budget.yml: a change that adds tasks raises the number there, and its commit says
why; a change that removes tasks lowers it, so the budget never hides room for new ones.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BUDGET_FILE = Path(__file__).with_name("task_budget.yml")
# Keys that hold further tasks rather than being a task of their own.
NESTED = ("block", "rescue", "always")


def count_tasks(items) -> int:
    total = 0
    for item in items or []:
        if not isinstance(item, dict):
            continue
        if any(key in item for key in NESTED):
            total += sum(count_tasks(item.get(key)) for key in NESTED)
        else:
            total += 1
    return total


def role_task_count(role: Path) -> int:
    total = 0
    for folder in ("tasks", "handlers"):
        for path in sorted((role / folder).glob("*.y*ml")):
            total += count_tasks(yaml.safe_load(path.read_text(encoding="utf-8")))
    return total


def roles():
    return sorted(p.name for p in (ROOT / "roles").iterdir() if (p / "meta" / "main.yml").is_file())


def test_every_role_has_a_budget():
    budget = yaml.safe_load(BUDGET_FILE.read_text(encoding="utf-8"))
    assert sorted(budget) == roles(), f"{BUDGET_FILE.name} must list exactly the roles in roles/"


@pytest.mark.parametrize("role", roles())
def test_role_task_count_matches_its_budget(role):
    budget = yaml.safe_load(BUDGET_FILE.read_text(encoding="utf-8"))[role]
    count = role_task_count(ROOT / "roles" / role)
    assert count <= budget, (
        f"roles/{role} has {count} tasks, its budget in tests/unit/{BUDGET_FILE.name} is {budget}: every task "
        "costs each drift run on every host; fold the check into an existing task or module, or raise the "
        "budget and say why in the commit")
    assert count == budget, (
        f"roles/{role} has {count} tasks, fewer than its budget {budget}: lower the budget in "
        f"tests/unit/{BUDGET_FILE.name} to {count}")


def test_the_counter_sees_blocks_and_handlers():
    tasks = [{"name": "a", "ansible.builtin.debug": {}},
             {"block": [{"name": "b", "ansible.builtin.debug": {}}, {"block": [{"name": "c", "x": 1}]}],
              "rescue": [{"name": "d", "x": 1}], "always": [{"name": "e", "x": 1}]}]
    assert count_tasks(tasks) == 5
