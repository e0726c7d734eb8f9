# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Action plugin of imip.server.files: a role's files and directories in one task, one module
run when all are in place.

ansible.builtin.template and copy cost two module runs per file on the host even when the file is
in place (a stat with the checksum, then the file module for owner and mode), and the file module
one per directory; a drift run finds everything in place. Here templates are rendered on the
controller (the template lookup: the same engine and options as the template action), every path
is read in one run of imip.server.file_states_info, and only what differs goes to the builtin
that writes it (template, copy or file), which validates, diffs and honours check mode as always.
"""

from __future__ import annotations

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.imip.server.plugins.module_utils._file_states import content_checksum, in_place

# What each entry may say; owner, group and mode may also be given once for all entries.
ENTRY_KEYS = ("path", "src", "content", "state", "owner", "group", "mode", "validate", "force")
SHARED_KEYS = ("owner", "group", "mode")
FILE_ONLY_KEYS = ("validate", "force")


def entries(args):
    """The task's entries, each with the shared owner/group/mode filled in and its `kind`
    (template, content, directory); a clear error for bad input, before anything is read."""
    given = args.get("files")
    if not isinstance(given, list):
        raise AnsibleActionFail("files: expected a list of entries with a path, got %r" % (given,))
    result = []
    for index, entry in enumerate(given):
        where = "files[%d]" % index
        if not isinstance(entry, dict):
            raise AnsibleActionFail("%s: expected a dict with a path, got %r" % (where, entry))
        entry = {key: value for key, value in entry.items() if value is not None}
        unknown = sorted(set(entry) - set(ENTRY_KEYS))
        if unknown:
            raise AnsibleActionFail("%s: unknown key(s) %s; expected %s" % (where, ", ".join(unknown), ", ".join(ENTRY_KEYS)))
        if not isinstance(entry.get("path"), str) or not entry["path"].startswith("/"):
            raise AnsibleActionFail("%s.path: expected an absolute path, got %r" % (where, entry.get("path")))
        where = "%s (%s)" % (where, entry["path"])
        state = entry.get("state", "file")
        if state not in ("file", "directory"):
            raise AnsibleActionFail("%s.state: expected file or directory, got %r" % (where, state))
        sources = [key for key in ("src", "content") if key in entry]
        if state == "directory":
            if sources or any(key in entry for key in FILE_ONLY_KEYS):
                raise AnsibleActionFail("%s: a directory takes no %s" % (where, ", ".join(sources + [k for k in FILE_ONLY_KEYS if k in entry])))
            kind = "directory"
        elif len(sources) != 1:
            raise AnsibleActionFail("%s: expected either src (a template) or content, not %s" % (where, "both" if sources else "neither"))
        else:
            kind = "template" if sources[0] == "src" else "content"
        if kind == "template" and (not isinstance(entry["src"], str) or not entry["src"]):
            raise AnsibleActionFail("%s.src: expected a template's path, got %r" % (where, entry["src"]))
        if kind == "content" and not isinstance(entry["content"], str):
            raise AnsibleActionFail("%s.content: expected a string, got %s" % (where, type(entry["content"]).__name__))
        if "force" in entry and not isinstance(entry["force"], bool):
            raise AnsibleActionFail("%s.force: expected true or false, got %r" % (where, entry["force"]))
        item = {key: args[key] for key in SHARED_KEYS if args.get(key) is not None}
        item.update(entry)
        item.pop("state", None)
        if "mode" in item and not isinstance(item["mode"], str):
            # 0644 without quotes is the integer 420: refused, as the file modules warn about it.
            raise AnsibleActionFail("%s.mode: expected a quoted octal string such as '0644', got %r" % (where, item["mode"]))
        result.append((kind, item))
    paths = [item["path"] for _kind, item in result]
    twice = sorted({path for path in paths if paths.count(path) > 1})
    if twice:
        raise AnsibleActionFail("files: the same path more than once: %s" % ", ".join(twice))
    return result


class ActionModule(ActionBase):
    TRANSFERS_FILES = True
    _VALID_ARGS = frozenset(("files",) + SHARED_KEYS)

    def _render(self, src, task_vars):
        lookup = self._shared_loader_obj.lookup_loader.get("ansible.builtin.template", loader=self._loader,
                                                           templar=self._templar)
        return lookup.run([src], variables=task_vars)[0]

    def _builtin(self, kind, item, task_vars):
        """The builtin for one entry, run as a task of its own would run it."""
        args = dict(item)
        path = args.pop("path")
        if kind == "directory":
            args.update(path=path, state="directory")
            return self._execute_module(module_name="ansible.legacy.file", module_args=args, task_vars=task_vars)
        args["dest"] = path
        task = self._task.copy()
        task.args = args
        name = "ansible.legacy.template" if kind == "template" else "ansible.legacy.copy"
        action = self._shared_loader_obj.action_loader.get(name, task=task, connection=self._connection,
                                                           play_context=self._play_context, loader=self._loader,
                                                           templar=self._templar, shared_loader_obj=self._shared_loader_obj)
        return action.run(task_vars=task_vars)

    def _wanted(self, kind, item, task_vars):
        """What the entry asks of its path, for module_utils._file_states.in_place."""
        want = {key: item[key] for key in SHARED_KEYS + ("force",) if key in item}
        want["type"] = "directory" if kind == "directory" else "file"
        if kind == "content":
            want["checksum"] = content_checksum(item["content"])
        elif kind == "template":
            try:
                want["checksum"] = content_checksum(self._render(item["src"], task_vars))
            except Exception as error:  # the lookup's own message names the template's problem
                raise AnsibleActionFail("cannot render %s for %s: %s" % (item["src"], item["path"], error)) from error
        return want

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        todo = entries(self._task.args)
        if not todo:  # a list built by Jinja may come out empty: nothing to do, nothing to read
            result.update(changed=False, files=[])
            return result
        wanted = [self._wanted(kind, item, task_vars) for kind, item in todo]

        states = self._execute_module(module_name="imip.server.file_states_info",
                                      module_args={"paths": [item["path"] for _kind, item in todo]}, task_vars=task_vars)
        if states.get("failed"):
            raise AnsibleActionFail("cannot read the paths: %s" % states.get("msg"))

        report, diffs, changed = [], [], False
        for (kind, item), want in zip(todo, wanted):
            if in_place(want, states["files"].get(item["path"], {})):
                report.append({"path": item["path"], "changed": False, "handed_on": False})
                continue
            done = self._builtin(kind, item, task_vars)
            if done.get("failed"):
                done["msg"] = "%s: %s" % (item["path"], done.get("msg", ""))
                done["files"] = report + [{"path": item["path"], "changed": False, "handed_on": True, "failed": True}]
                done["changed"] = changed
                return done
            changed = changed or bool(done.get("changed"))
            report.append({"path": item["path"], "changed": bool(done.get("changed")), "handed_on": True})
            diff = done.get("diff")
            if isinstance(diff, list):
                diffs.extend(diff)
            elif diff:
                diffs.append(diff)

        result.update(changed=changed, files=report)
        if diffs:
            result["diff"] = diffs
        return result
