# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""imip.server.files with the repository's real ansible-playbook on this machine (local
connection): files the builtins wrote are found in place without them, drift is shown by
--check --diff and fixed by a run that notifies the handler, bad input is refused by name and a
file that fails its validate command is not written. One playbook of several plays, read back
through the json callback."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from pathlib import Path

import pytest

# Runs the repository's own ansible-playbook (deselected in the compat stage's other ansible-core).
pytestmark = pytest.mark.repository_ansible

REPO = Path(__file__).resolve().parents[2]

# What the roles' templates use: ansible_managed, blocks whose newline trim_blocks removes, a
# loop, non-ASCII text and a trailing newline.
TEMPLATE = """# {{ ansible_managed }}
{% for name in names %}
domain = {{ name }}
{% endfor %}
{% if greeting %}
greeting = {{ greeting }}
{% endif %}
"""

ENTRIES = """
          - {path: "{{ d }}/sub", state: directory, mode: "2750"}
          - {src: "{{ d }}/templates/site.conf.j2", path: "{{ d }}/sub/site.conf", mode: "0640"}
          - {content: "{{ pem }}", path: "{{ d }}/ca.pem"}"""

PLAYBOOK = """
- name: The builtins write the files
  hosts: localhost
  gather_facts: false
  tasks:
    - {name: builtin directory, ansible.builtin.file: {path: "{{ d }}/sub", state: directory, mode: "2750"}}
    - {name: builtin template, ansible.builtin.template: {src: "{{ d }}/templates/site.conf.j2", dest: "{{ d }}/sub/site.conf", mode: "0640"}}
    - {name: builtin copy, ansible.builtin.copy: {content: "{{ pem }}", dest: "{{ d }}/ca.pem", mode: "0644"}}

- name: Nothing changed
  hosts: localhost
  gather_facts: false
  tasks:
    - name: files in place
      imip.server.files:
        mode: "0644"
        files: %(entries)s
      notify: Mark

  handlers:
    - {name: Mark, ansible.builtin.file: {path: "{{ d }}/handler-ran-with-nothing-changed", state: touch, mode: "0600"}}

- name: Drift
  hosts: localhost
  gather_facts: false
  tasks:
    - name: drift
      ansible.builtin.shell: echo '# by hand' >> {{ d }}/sub/site.conf && chmod 0600 {{ d }}/ca.pem
      changed_when: false
    - name: files under check
      check_mode: true
      diff: true
      imip.server.files:
        mode: "0644"
        files: %(entries)s
    - {name: after check, ansible.builtin.slurp: {src: "{{ d }}/sub/site.conf"}}
    - name: files fixing
      diff: true
      imip.server.files:
        mode: "0644"
        files: %(entries)s
      notify: Mark
    - name: files again
      imip.server.files:
        mode: "0644"
        files: %(entries)s

  handlers:
    - {name: Mark, ansible.builtin.file: {path: "{{ d }}/handler-ran", state: touch, mode: "0600"}}

- name: Bad input and a failing validate command
  hosts: localhost
  gather_facts: false
  tasks:
    - {name: no path, ignore_errors: true, imip.server.files: {files: [{src: "{{ d }}/templates/site.conf.j2"}]}}
    - name: both src and content
      ignore_errors: true
      imip.server.files: {files: [{src: "{{ d }}/templates/site.conf.j2", content: "x", path: "{{ d }}/x"}]}
    - {name: mode as a number, ignore_errors: true, imip.server.files: {files: [{content: "x", path: "{{ d }}/x", mode: 420}]}}
    - name: validate fails
      ignore_errors: true
      imip.server.files:
        files:
          - {content: "new\\n", path: "{{ d }}/validated", mode: "0644", validate: "grep -q never %%s"}
""" % {"entries": ENTRIES}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    d = tmp_path_factory.mktemp("files-action")
    (d / "templates").mkdir()
    (d / "templates" / "site.conf.j2").write_text(TEMPLATE, encoding="utf-8")
    (d / "validated").write_text("old\n", encoding="utf-8")
    (d / "site.yml").write_text(PLAYBOOK, encoding="utf-8")
    variables = {"d": str(d), "names": ["example.test", "bücher.example"], "greeting": "Grüße",
                 "pem": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"}
    (d / "vars.json").write_text(json.dumps(variables), encoding="utf-8")
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_STDOUT_CALLBACK="json",
               ANSIBLE_COLLECTIONS_PATH=str(REPO / ".cache" / "collections"), ANSIBLE_LOCALHOST_WARNING="0")
    proc = subprocess.run([str(REPO / ".venv" / "bin" / "ansible-playbook"), "-i", "localhost,", "-c", "local",
                           "-e", "@" + str(d / "vars.json"), str(d / "site.yml")],
                          cwd=d, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.stdout.lstrip().startswith("{"), proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    tasks = {task["task"]["name"]: task["hosts"]["localhost"] for play in report["plays"] for task in play["tasks"]}
    return d, tasks


def test_what_the_builtins_wrote_is_found_in_place_without_them(run):
    d, tasks = run
    result = tasks["files in place"]
    assert result["changed"] is False
    assert [entry["handed_on"] for entry in result["files"]] == [False, False, False], result
    assert not (d / "handler-ran-with-nothing-changed").exists()


def test_check_and_diff_show_the_drift_and_change_nothing(run):
    d, tasks = run
    result = tasks["files under check"]
    assert result["changed"] is True
    assert [entry["handed_on"] for entry in result["files"]] == [False, True, True]
    diffs = result["diff"]
    # The template's diff shows the line added by hand going; the copy's shows the mode coming back.
    assert any("# by hand" in str(diff.get("before", "")) and "# by hand" not in str(diff.get("after", "")) for diff in diffs), diffs
    assert any("0600" in str(diff.get("before", "")) and "0644" in str(diff.get("after", "")) for diff in diffs), diffs
    assert b"# by hand" in base64.b64decode(tasks["after check"]["content"])


def test_a_run_fixes_the_drift_notifies_the_handler_and_then_finds_everything_in_place(run):
    d, tasks = run
    fixing = tasks["files fixing"]
    assert fixing["changed"] is True
    assert [entry["changed"] for entry in fixing["files"]] == [False, True, True]
    assert (d / "handler-ran").exists()
    assert "# by hand" not in (d / "sub" / "site.conf").read_text(encoding="utf-8")
    assert oct((d / "ca.pem").stat().st_mode & 0o7777) == "0o644"
    again = tasks["files again"]
    assert again["changed"] is False
    assert [entry["handed_on"] for entry in again["files"]] == [False, False, False]


def test_the_template_is_rendered_as_the_template_module_renders_it(run):
    d, _tasks = run
    text = (d / "sub" / "site.conf").read_text(encoding="utf-8")
    assert text.endswith("greeting = Grüße\n")
    assert "domain = example.test\ndomain = bücher.example\n" in text
    assert oct((d / "sub").stat().st_mode & 0o7777) == "0o2750"


@pytest.mark.parametrize("task, message", [
    ("no path", "files[0].path: expected an absolute path, got None"),
    ("both src and content", "expected either src (a template) or content, not both"),
    ("mode as a number", "files[0] (%s/x).mode: expected a quoted octal string such as '0644', got 420"),
])
def test_bad_input_is_refused_by_name_before_anything_is_written(run, task, message):
    d, tasks = run
    assert tasks[task]["failed"] is True
    assert (message % d if "%s" in message else message) in tasks[task]["msg"]
    assert not (d / "x").exists()


def test_a_file_that_fails_its_validate_command_is_not_written(run):
    d, tasks = run
    result = tasks["validate fails"]
    assert result["failed"] is True
    assert result["msg"].startswith(str(d / "validated") + ": ")
    assert (d / "validated").read_text(encoding="utf-8") == "old\n"
