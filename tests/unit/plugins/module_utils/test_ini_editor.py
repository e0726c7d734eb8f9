# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""The ini line editor: it reads values verbatim, changes one value only, and refuses what it
could not read back."""

from __future__ import annotations

import pytest

from ansible_collections.imip.server.plugins.module_utils import _ini_editor as ini
from ansible_collections.imip.server.plugins.module_utils._textlines import LINE_BREAKS, split_lines

from ..common import GATEWAY_INI, OTHER, PASSWORD


def test_ini_reads_the_value_verbatim():
    doc = ini.IniDocument(GATEWAY_INI.format(smtp="a=b:c #d ;e", imap="x"))
    assert doc.value("smtp", "password") == "a=b:c #d ;e"
    assert doc.value("smtp", "PASSWORD") == "a=b:c #d ;e"  # keys are case-insensitive
    assert doc.value("caldav", "password") == "unrelated = value : kept"
    assert doc.value("SMTP", "password") is None  # sections are not
    assert doc.value("imap", "nokey") is None


def test_ini_set_changes_only_that_value():
    before = GATEWAY_INI.format(smtp=OTHER, imap=PASSWORD)
    after = ini.IniDocument(before).set("smtp", "password", PASSWORD)
    old_lines, new_lines = before.splitlines(True), after.splitlines(True)
    changed = [i for i, (a, b) in enumerate(zip(old_lines, new_lines)) if a != b]
    assert len(old_lines) == len(new_lines) and changed == [6]
    assert new_lines[6] == "Password = %s\n" % PASSWORD  # key spelling and spacing kept


def test_ini_set_keeps_crlf_and_missing_final_newline():
    text = "[smtp]\r\npassword =  old  \r\nhost = x"
    assert ini.IniDocument(text).set("smtp", "password", "new") == "[smtp]\r\npassword =  new  \r\nhost = x"


def test_ini_adds_a_missing_key_at_the_end_of_its_section():
    text = "[smtp]\nhost = x\n\n[imap]\nhost = y\n"
    assert ini.IniDocument(text).set("smtp", "password", "new") == "[smtp]\nhost = x\npassword = new\n\n[imap]\nhost = y\n"
    assert ini.IniDocument("[smtp]\n# only a comment\n").set("smtp", "password", "n") == "[smtp]\npassword = n\n# only a comment\n"


def test_ini_adds_a_missing_section_and_keys_before_the_first_section():
    text = "[smtp]\nhost = x"
    assert ini.IniDocument(text).set("imap", "password", "n") == "[smtp]\nhost = x\n\n[imap]\npassword = n\n"
    assert ini.IniDocument("# c\n[smtp]\n").set(None, "password", "n") == "# c\npassword = n\n[smtp]\n"
    assert ini.IniDocument("").set("s", "k", "v") == "[s]\nk = v\n"


def test_ini_malformed_line_is_named_without_its_content():
    with pytest.raises(ini.IniError) as err:
        ini.IniDocument("[smtp]\nhost = x\n\njust some words\n", "gw.ini")
    assert str(err.value) == "gw.ini line 4: malformed (expected [section], key = value or a comment)"


def test_ini_duplicate_key_is_an_error_with_both_lines():
    with pytest.raises(ini.IniError, match=r"lines 2, 4: key password appears more than once in section \[smtp\]"):
        ini.IniDocument("[smtp]\npassword = a\n[smtp]\nPassword = b\n").value("smtp", "password")


# --- lines are split at "\n" only -------------------------------------------------------------

@pytest.mark.parametrize("char", [c for c in LINE_BREAKS if c not in "\n\r"])
def test_other_line_separators_do_not_split_lines(char):
    """A form feed in a comment, or \\x85 in a value someone else wrote, is part of its line."""
    text = "# page one%spage two\n[smtp]\npassword = a%sb\nhost = x\n" % (char, char)
    doc = ini.IniDocument(text, "gw.ini")
    assert doc.value("smtp", "password") == "a%sb" % char
    assert doc.set("smtp", "host", "y") == text.replace("host = x", "host = y")


def test_split_lines_is_newline_only():
    assert split_lines("a\x0cb\r\nc\n\u2028d") == ["a\x0cb\r\n", "c\n", "\u2028d"]
    assert split_lines("") == [] and split_lines("x\n") == ["x\n"]


# --- what the editor refuses to write ------------------------------------------------------------

@pytest.mark.parametrize("section, rule", [
    ("", "section is empty"),
    ("smtp\n[evil]", "line break"),
    ("smtp\x0c", "line break"),
    (" smtp", "white space"),
    ("smtp ", "white space"),
    ("sm]tp", "contains ']'"),
])
def test_sections_it_could_not_read_back_are_refused(section, rule):
    assert rule in ini.section_problem(section)


@pytest.mark.parametrize("key, rule", [
    ("", "key is empty"),
    ("pass\nword", "line break"),
    ("pass\u2028word", "line break"),
    (" password", "white space"),
    ("pass=word", "'=' or ':'"),
    ("pass:word", "'=' or ':'"),
    ("[password", "starts with '['"),
    ("#password", "starts with '#'"),
    (";password", "starts with ';'"),
])
def test_keys_it_could_not_read_back_are_refused(key, rule):
    assert rule in ini.key_problem(key)


@pytest.mark.parametrize("value, rule", [
    (" leading", "white space"),
    ("trailing\t", "white space"),
    ("nbsp\u00a0", "white space"),
    ("form\x0cfeed", "line separator"),
    ("next\x85line", "line separator"),
    ("para\u2029graph", "line separator"),
])
def test_values_it_could_not_read_back_are_refused(value, rule):
    assert rule in ini.value_problem(value)


@pytest.mark.parametrize("section, key, value", [
    ("smtp", "password", PASSWORD),
    ("a section [1", "my key", "v=a:l#u;e [x]"),
    (None, "password", "x"),
])
def test_what_it_accepts_reads_back_exactly(section, key, value):
    assert (section is None or ini.section_problem(section) is None) and ini.key_problem(key) is None
    assert ini.value_problem(value) is None
    for text in ("", GATEWAY_INI.format(smtp="s", imap="i")):
        written = ini.IniDocument(text).set(section, key, value)
        assert ini.IniDocument(written).value(section, key) == value
        assert ini.IniDocument(written).set(section, key, value) == written, "a second write changes nothing"
