"""A small, forgiving iCalendar (RFC 5545) content-line model for the inbound path.

Why our own instead of a full library: replies from real clients break the grammar in many
ways (TAB folding, folds inside quoted parameters, bare LF, VERSION inside VEVENT, VTIMEZONE
after VEVENT) and the write-back must change exactly one ATTENDEE line of the organizer's event
while leaving every other line as it was. So this model keeps each property's raw text and
re-serialises only what was edited. Anything unparseable raises ``ICalError`` (a ValueError);
nothing else escapes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = [
    "Component",
    "ICalError",
    "Property",
    "fold",
    "parse",
    "unfold",
]

# A property name or parameter name: IANA token or X-name (RFC 5545 §3.1).
_NAME = re.compile(r"[A-Za-z0-9-]+")
# Parsing is linear, but a calendar of millions of lines is not a reply: callers cap the
# size first (max_itip_bytes); this is a second fence for direct use.
MAX_LINES = 200_000
MAX_DEPTH = 16


class ICalError(ValueError):
    """The text is not an iCalendar object we can read."""


@dataclass
class Property:
    """One content line: NAME;PARAM=v1,v2:VALUE. ``raw`` is the unfolded original line."""

    name: str
    params: dict[str, list[str]]
    value: str
    raw: str | None = None
    dirty: bool = False

    def param(self, key: str, default: str | None = None) -> str | None:
        values = self.params.get(key.upper())
        return values[0] if values else default

    def set_param(self, key: str, value: str | None) -> None:
        key = key.upper()
        if value is None:
            self.params.pop(key, None)
        else:
            self.params[key] = [value]
        self.dirty = True

    def set_value(self, value: str) -> None:
        self.value = value
        self.dirty = True

    def to_line(self) -> str:
        """The unfolded line: the original text unless the property was edited."""
        if self.raw is not None and not self.dirty:
            return self.raw
        parts = [self.name]
        for key, values in self.params.items():
            if not _NAME.fullmatch(key):
                raise ICalError(f"parameter name {key[:40]!r} of {self.name} is not a name")
            parts.append(f"{key}={','.join(_quote_param(v) for v in values)}")
        if _UNSAFE_VALUE.search(self.value):
            # A line break here would start a new property of the organizer's event.
            raise ICalError(f"{self.name} value holds a control character")
        return ";".join(parts) + ":" + self.value


@dataclass
class Component:
    """BEGIN:NAME … END:NAME with its properties and sub-components, in original order."""

    name: str
    properties: list[Property] = field(default_factory=list)
    components: list[Component] = field(default_factory=list)

    def get(self, name: str) -> Property | None:
        name = name.upper()
        for prop in self.properties:
            if prop.name == name:
                return prop
        return None

    def get_all(self, name: str) -> list[Property]:
        name = name.upper()
        return [p for p in self.properties if p.name == name]

    def value(self, name: str, default: str | None = None) -> str | None:
        prop = self.get(name)
        return prop.value if prop is not None else default

    def remove(self, name: str) -> None:
        name = name.upper()
        self.properties = [p for p in self.properties if p.name != name]

    def sub(self, name: str) -> list[Component]:
        name = name.upper()
        return [c for c in self.components if c.name == name]

    def walk(self):
        yield self
        for comp in self.components:
            yield from comp.walk()

    def lines(self) -> list[str]:
        out = [f"BEGIN:{self.name}"]
        out.extend(p.to_line() for p in self.properties)
        for comp in self.components:
            out.extend(comp.lines())
        out.append(f"END:{self.name}")
        return out

    def serialize(self) -> str:
        """CRLF-terminated, folded at 75 octets (RFC 5545 §3.1)."""
        return "".join(fold(line) + "\r\n" for line in self.lines())

    def copy(self) -> Component:
        return Component(
            self.name,
            [Property(p.name, {k: list(v) for k, v in p.params.items()}, p.value, p.raw, p.dirty)
             for p in self.properties],
            [c.copy() for c in self.components],
        )


def unfold(text: str) -> list[str]:
    """Logical lines: CRLF, LF or CR line ends; a line starting with space or TAB continues."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines: list[str] = []
    for physical in text.split("\n"):
        if physical[:1] in (" ", "\t") and lines:
            lines[-1] += physical[1:]
        elif physical.strip():
            lines.append(physical)
        if len(lines) > MAX_LINES:
            raise ICalError(f"more than {MAX_LINES} lines")
    return lines


def fold(line: str, limit: int = 75) -> str:
    """Fold one line at `limit` octets without splitting a UTF-8 sequence."""
    data = line.encode("utf-8")
    if len(data) <= limit:
        return line
    chunks = []
    start = 0
    width = limit
    while start < len(data):
        end = min(start + width, len(data))
        # Back off to a character boundary (continuation bytes are 10xxxxxx).
        while end < len(data) and (data[end] & 0xC0) == 0x80:
            end -= 1
        chunks.append(data[start:end].decode("utf-8"))
        start = end
        width = limit - 1  # continuation lines start with one space
    return "\r\n ".join(chunks)


# RFC 5545 §3.1: a parameter value never holds DQUOTE or CONTROL (all but HTAB below 0x20, and
# DEL). Values come from parsed text (a quoted value loses its quotes) and, for the edited
# ATTENDEE line, from mail: a '"' written back would end the quoted value early and let the
# rest be read as new parameters or as the property value (another attendee's address).
_UNSAFE_PARAM = re.compile(r'["\x00-\x08\x0a-\x1f\x7f]')
_UNSAFE_VALUE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def _quote_param(value: str) -> str:
    value = _UNSAFE_PARAM.sub("", value)
    if any(c in value for c in ":;,"):
        return f'"{value}"'
    return value


def parse_property(line: str) -> Property:
    """Split NAME;P=a,"b:c";Q=d:VALUE, honouring double quotes in parameter values."""
    match = _NAME.match(line)
    if not match:
        raise ICalError(f"no property name in line {line[:60]!r}")
    name = match.group(0).upper()
    pos = match.end()
    params: dict[str, list[str]] = {}
    length = len(line)
    while pos < length and line[pos] == ";":
        pos += 1
        pmatch = _NAME.match(line, pos)
        if not pmatch:
            raise ICalError(f"bad parameter in {name} line")
        key = pmatch.group(0).upper()
        pos = pmatch.end()
        if pos >= length or line[pos] != "=":
            raise ICalError(f"parameter {key} of {name} has no value")
        pos += 1
        values = []
        while True:
            if pos < length and line[pos] == '"':
                end = line.find('"', pos + 1)
                if end < 0:
                    raise ICalError(f"unterminated quote in {name};{key}")
                values.append(line[pos + 1:end])
                pos = end + 1
            else:
                end = pos
                while end < length and line[end] not in ",;:":
                    end += 1
                values.append(line[pos:end])
                pos = end
            if pos < length and line[pos] == ",":
                pos += 1
                continue
            break
        params.setdefault(key, []).extend(values)
    if pos >= length or line[pos] != ":":
        raise ICalError(f"property {name} has no value")
    return Property(name, params, line[pos + 1:], raw=line)


def parse(text: str) -> Component:
    """Parse the first VCALENDAR in `text`; raise ICalError when there is none or it is broken."""
    stack: list[Component] = []
    root: Component | None = None
    for line in unfold(text):
        upper = line[:6].upper()
        if upper == "BEGIN:":
            comp = Component(line[6:].strip().upper())
            if not stack:
                if comp.name != "VCALENDAR":
                    # Leading junk before the calendar (a signature, a BOM line): skip it.
                    continue
            else:
                stack[-1].components.append(comp)
            stack.append(comp)
            if len(stack) > MAX_DEPTH:
                raise ICalError("components nested too deeply")
        elif upper[:4] == "END:":
            if not stack:
                continue
            name = line[4:].strip().upper()
            if name != stack[-1].name:
                raise ICalError(f"END:{name} closes BEGIN:{stack[-1].name}")
            done = stack.pop()
            if not stack:
                root = done
                break
        elif stack:
            try:
                stack[-1].properties.append(parse_property(line))
            except ICalError:
                # RFC 5545 readers skip what they cannot read; a broken X- line or a stray
                # text line must not cost the reply. Required properties are checked later.
                continue
    if root is None:
        raise ICalError("no complete BEGIN:VCALENDAR … END:VCALENDAR")
    return root


def unescape_text(value: str) -> str:
    """TEXT value escapes (RFC 5545 §3.3.11): \\n \\N \\, \\; \\\\."""
    out = []
    i = 0
    while i < len(value):
        ch = value[i]
        if ch == "\\" and i + 1 < len(value):
            nxt = value[i + 1]
            out.append("\n" if nxt in "nN" else nxt)
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)
