"""Diff an event's old and new versions into iTIP messages per external attendee.

Pure: calendars in, a Plan out; no database, no clock (the caller passes `now`).

Per (UID, RECURRENCE-ID) component and per recipient attendee:
- new on the event                        -> REQUEST (every component the attendee is on)
- significant change (time, RRULE/RDATE/EXDATE, location, summary, description, status,
  overrides added/removed)               -> REQUEST
- removed from the event                 -> CANCEL (from the old version)
- removed from one instance              -> CANCEL of that RECURRENCE-ID
- event deleted or STATUS:CANCELLED      -> CANCEL; an override STATUS:CANCELLED -> CANCEL of it
- anything else (PARTSTAT, SCHEDULE-STATUS, X-properties, alarms, other attendees) -> nothing

Order matters (the actions' index becomes the jobs' sending order): for one attendee the series
REQUEST comes before the per-instance CANCELs of the same change, so a client that applies them
in order never has a cancelled instance brought back by the series arriving after it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import icalendar

from imip_gateway.addresses import from_calendar_address, is_mailto, to_calendar_address
from imip_gateway.ical import attendees_of, events, recurrence_key
from imip_gateway.outbound.recipients import Policy
from imip_gateway.outbound.timing import is_long_past

# What makes a change "significant" (RFC 5546 §2.1.5: changes that need a new SEQUENCE and a
# new REQUEST). Compared as serialized values with parameters (TZID).
SIGNIFICANT = ("DTSTART", "DTEND", "DURATION", "RRULE", "RDATE", "EXDATE", "LOCATION", "SUMMARY",
               "DESCRIPTION", "STATUS")


@dataclass(frozen=True)
class Action:
    method: str                 # REQUEST | CANCEL
    attendee: str               # mailto:, lower case
    keys: tuple[str, ...]       # recurrence keys of the components to mail ('' = master)
    source: str                 # "new" or "old": which version the components come from
    # new attendee | updated | removed | instance removed | deleted | cancelled | instance cancelled
    reason: str


@dataclass
class Plan:
    uid: str | None
    organizer: icalendar.vCalAddress | None = None
    actions: list[Action] = field(default_factory=list)
    skipped: str | None = None                      # why nothing is sent at all
    significant_keys: set[str] = field(default_factory=set)  # components whose SEQUENCE must rise
    # Components whose significant change asks every recipient again (PARTSTAT reset in the mail).
    reask_keys: set[str] = field(default_factory=set)
    recipients: set[str] = field(default_factory=set)  # every external attendee (mailto:) of either version

    def add(self, method: str, attendee: str, keys: set[str], source: str, reason: str, *,
            significant: set[str] | None = None) -> None:
        self.actions.append(Action(method, attendee, tuple(sorted(keys)), source, reason))
        self.significant_keys.update(keys if significant is None else significant)


@dataclass
class Sources:
    """The two versions of the event a plan was made from, for the actions that copy from them."""
    uid: str
    point: str
    old: icalendar.Calendar | None
    new: icalendar.Calendar | None

    def of(self, action: Action) -> icalendar.Calendar | None:
        return self.new if action.source == "new" else self.old


Components = dict[str, icalendar.cal.Component]


@dataclass
class _Versions:
    """Both versions of the event by recurrence key, with the recipients on each component."""
    old: Components
    new: Components
    old_to: dict[str, set[str]]
    new_to: dict[str, set[str]]

    @property
    def old_live(self) -> set[str]:
        return {k for k, c in self.old.items() if _status(c) != "CANCELLED"}

    def changed_keys(self) -> set[str]:
        return {k for k in set(self.old) | set(self.new) if signature(self.old.get(k)) != signature(self.new.get(k))}

    def newly_cancelled(self) -> set[str]:
        return {k for k, c in self.new.items()
                if _status(c) == "CANCELLED" and _status(self.old.get(k)) != "CANCELLED"}


def _components(calendar: icalendar.Calendar | None) -> Components:
    if calendar is None:
        return {}
    return {recurrence_key(c): c for c in events(calendar)}


def _value(prop) -> tuple:
    items = prop if isinstance(prop, list) else [prop]
    out = []
    for item in items:
        params = tuple(sorted((k.upper(), str(v)) for k, v in getattr(item, "params", {}).items()))
        out.append((item.to_ical() if hasattr(item, "to_ical") else str(item), params))
    return tuple(out)


def signature(component: icalendar.cal.Component | None) -> tuple:
    if component is None:
        return ()
    return tuple((name, _value(component[name])) for name in SIGNIFICANT if name in component)


def _status(component: icalendar.cal.Component | None) -> str:
    return str(component.get("STATUS", "")).upper() if component is not None else ""


def organizer_of(comps: Components) -> icalendar.vCalAddress | None:
    """The ORGANIZER of an event by recurrence key, the master's first."""
    for key in sorted(comps):  # master ('') first
        organizer = comps[key].get("ORGANIZER")
        if organizer is not None:
            return organizer
    return None


def _uid(comps: Components) -> str | None:
    for component in comps.values():
        if component.get("UID") is not None:
            return str(component.get("UID"))
    return None


def _skip_reason(organizer: icalendar.vCalAddress | None, comps: list[icalendar.cal.Component], *,
                 policy: Policy, owner: str | None, now: dt.datetime, suppression_days: int) -> str | None:
    """Why this event mails nobody at all (not a local organizer's own event, opted out, or long past), or None."""
    if organizer is None:
        return "no ORGANIZER (not a scheduling object)"
    organizer_address = from_calendar_address(organizer)
    if not is_mailto(organizer) or not policy.is_local(organizer_address):
        return f"organizer {organizer_address} is not a local user"
    if not policy.owner_is_organizer(organizer, owner):
        return f"a copy in {owner}'s calendar, not the organizer's ({organizer_address})"
    opted_out = policy.organizer_opted_out(organizer, owner)
    if opted_out:
        return opted_out
    if is_long_past(comps, now, suppression_days):
        return f"event ended more than {suppression_days} days ago"
    return None


def _versions(old: Components, new: Components, policy: Policy, organizer_address: str) -> _Versions:
    def recipients(component: icalendar.cal.Component) -> set[str]:
        return {to_calendar_address(a) for a in attendees_of(component)
                if policy.is_recipient(a, organizer_address)}
    return _Versions(old, new, {k: recipients(c) for k, c in old.items()},
                     {k: recipients(c) for k, c in new.items()})


def _plan_gone(plan: Plan, versions: _Versions) -> None:
    """The whole event was deleted or cancelled: CANCEL to whoever still had it."""
    deleted = not versions.new
    comps_to = versions.old_to if deleted else versions.new_to
    keys_in = versions.old_live if deleted else set(versions.new)
    for attendee in sorted(plan.recipients):
        keys = {k for k in keys_in if attendee in comps_to[k]}
        # An event created already cancelled was never mailed: nothing to cancel.
        had_it = any(attendee in versions.old_to[k] for k in versions.old_live)
        if keys and had_it:
            plan.add("CANCEL", attendee, keys, "old" if deleted else "new", "deleted" if deleted else "cancelled")


def _plan_attendee(plan: Plan, versions: _Versions, attendee: str, changed: set[str],
                   newly_cancelled: set[str]) -> None:
    """The actions for one attendee, in sending order (series REQUEST before instance CANCELs)."""
    old_keys = {k for k in versions.old_live if attendee in versions.old_to[k]}
    new_keys = {k for k in versions.new if attendee in versions.new_to[k]}
    cancelled_keys = new_keys & newly_cancelled
    active = {k for k in new_keys if _status(versions.new[k]) != "CANCELLED"}
    if not active:
        if old_keys - cancelled_keys:
            plan.add("CANCEL", attendee, old_keys, "old", "removed")
        elif cancelled_keys:
            plan.add("CANCEL", attendee, cancelled_keys, "new", "instance cancelled")
        return
    if not old_keys:
        plan.add("REQUEST", attendee, active, "new", "new attendee", significant=set())
    else:
        # Instances the attendee was taken off while the override stays.
        removed_instances = {k for k in old_keys if k in versions.new and k not in new_keys}
        relevant = (old_keys | active) - removed_instances
        if relevant & changed or (old_keys - removed_instances) != active:
            plan.add("REQUEST", attendee, active, "new", "updated", significant=active & changed)
            plan.reask_keys.update(active & changed)
        if removed_instances:
            plan.add("CANCEL", attendee, removed_instances, "old", "instance removed")
    if cancelled_keys:
        plan.add("CANCEL", attendee, cancelled_keys, "new", "instance cancelled")


def plan_change(old: icalendar.Calendar | None, new: icalendar.Calendar | None, *, policy: Policy,
                owner: str | None, now: dt.datetime, suppression_days: int) -> Plan:
    old_comps, new_comps = _components(old), _components(new)
    plan = Plan(uid=_uid(new_comps) or _uid(old_comps))
    if not old_comps and not new_comps:
        plan.skipped = "no VEVENT"
        return plan
    plan.organizer = organizer_of(new_comps) or organizer_of(old_comps)
    plan.skipped = _skip_reason(plan.organizer, list(new_comps.values()) or list(old_comps.values()),
                                policy=policy, owner=owner, now=now, suppression_days=suppression_days)
    if plan.skipped:
        return plan
    versions = _versions(old_comps, new_comps, policy, from_calendar_address(plan.organizer))
    plan.recipients = set().union(*versions.old_to.values(), *versions.new_to.values())
    master_cancelled = _status(new_comps.get("")) == "CANCELLED" and _status(old_comps.get("")) != "CANCELLED"
    if not new_comps or master_cancelled:
        _plan_gone(plan, versions)
        return plan
    changed, newly_cancelled = versions.changed_keys(), versions.newly_cancelled()
    for attendee in sorted(plan.recipients):
        _plan_attendee(plan, versions, attendee, changed, newly_cancelled)
    return plan
