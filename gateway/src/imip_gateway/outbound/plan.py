"""Diff an event's old and new versions into iTIP messages per external attendee (requirement 4).

Pure: calendars in, a Plan out; no database, no clock (the caller passes `now`).

Per (UID, RECURRENCE-ID) component and per recipient attendee:
- new on the event                        -> REQUEST (every component the attendee is on)
- significant change (time, RRULE/RDATE/EXDATE, location, summary, description, status,
  overrides added/removed)               -> REQUEST
- removed from the event                 -> CANCEL (from the old version)
- removed from one instance              -> CANCEL of that RECURRENCE-ID
- event deleted or STATUS:CANCELLED      -> CANCEL; an override STATUS:CANCELLED -> CANCEL of it
- anything else (PARTSTAT, SCHEDULE-STATUS, X-properties, alarms, other attendees) -> nothing
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import icalendar

from imip_gateway.ical import address_of, attendees_of, events, recurrence_key
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
    reason: str                 # new attendee | updated | removed | instance removed | deleted | cancelled | instance cancelled


@dataclass
class Plan:
    uid: str | None
    organizer: icalendar.vCalAddress | None = None
    actions: list[Action] = field(default_factory=list)
    skipped: str | None = None                      # why nothing is sent at all
    significant_keys: set[str] = field(default_factory=set)  # components whose SEQUENCE must rise


def _components(calendar: icalendar.Calendar | None) -> dict[str, icalendar.cal.Component]:
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


def _organizer(comps: dict[str, icalendar.cal.Component]) -> icalendar.vCalAddress | None:
    for key in sorted(comps):  # master ('') first
        organizer = comps[key].get("ORGANIZER")
        if organizer is not None:
            return organizer
    return None


def _uid(comps: dict[str, icalendar.cal.Component]) -> str | None:
    for component in comps.values():
        if component.get("UID") is not None:
            return str(component.get("UID"))
    return None


def plan_change(old: icalendar.Calendar | None, new: icalendar.Calendar | None, *, policy: Policy,
                owner: str | None, now: dt.datetime, suppression_days: int) -> Plan:
    old_comps, new_comps = _components(old), _components(new)
    plan = Plan(uid=_uid(new_comps) or _uid(old_comps))
    if not old_comps and not new_comps:
        plan.skipped = "no VEVENT"
        return plan
    organizer = _organizer(new_comps) or _organizer(old_comps)
    plan.organizer = organizer
    if organizer is None:
        plan.skipped = "no ORGANIZER (not a scheduling object)"
        return plan
    organizer_address = address_of(organizer)
    if not str(organizer).lower().startswith("mailto:") or not policy.is_local(organizer_address):
        plan.skipped = f"organizer {organizer_address} is not a local user"
        return plan
    if not policy.owner_is_organizer(organizer, owner):
        plan.skipped = f"a copy in {owner}'s calendar, not the organizer's ({organizer_address})"
        return plan
    opted_out = policy.organizer_opted_out(organizer, owner)
    if opted_out:
        plan.skipped = opted_out
        return plan
    if is_long_past(list(new_comps.values()) or list(old_comps.values()), now, suppression_days):
        plan.skipped = f"event ended more than {suppression_days} days ago"
        return plan

    def recipients(component: icalendar.cal.Component | None) -> set[str]:
        if component is None:
            return set()
        return {"mailto:" + address_of(a) for a in attendees_of(component)
                if policy.is_recipient(a, organizer_address)}

    old_live = {k: c for k, c in old_comps.items() if _status(c) != "CANCELLED"}
    everyone = set().union(*(recipients(c) for c in old_comps.values()),
                           *(recipients(c) for c in new_comps.values()))

    # The whole event is gone or cancelled: CANCEL to whoever still had it.
    master_cancelled = _status(new_comps.get("")) == "CANCELLED" and _status(old_comps.get("")) != "CANCELLED"
    if not new_comps or master_cancelled:
        reason = "deleted" if not new_comps else "cancelled"
        source = "old" if not new_comps else "new"
        comps = old_live if not new_comps else new_comps
        for attendee in sorted(everyone):
            keys = tuple(sorted(k for k, c in comps.items() if attendee in recipients(c)))
            # An event created already cancelled was never mailed: nothing to cancel.
            had_it = any(attendee in recipients(c) for c in old_live.values())
            if keys and had_it:
                plan.actions.append(Action("CANCEL", attendee, keys, source, reason))
                plan.significant_keys.update(keys)
        return plan

    changed_keys = {k for k in set(old_comps) | set(new_comps)
                    if signature(old_comps.get(k)) != signature(new_comps.get(k))}
    newly_cancelled = {k for k, c in new_comps.items()
                       if _status(c) == "CANCELLED" and _status(old_comps.get(k)) != "CANCELLED"}
    for attendee in sorted(everyone):
        old_keys = {k for k, c in old_live.items() if attendee in recipients(c)}
        new_keys = {k for k, c in new_comps.items() if attendee in recipients(c)}
        cancelled_keys = new_keys & newly_cancelled
        active = {k for k in new_keys if _status(new_comps[k]) != "CANCELLED"}
        if not active:
            if old_keys - cancelled_keys:
                plan.actions.append(Action("CANCEL", attendee, tuple(sorted(old_keys)), "old", "removed"))
                plan.significant_keys.update(old_keys)
            elif cancelled_keys:
                plan.actions.append(Action("CANCEL", attendee, tuple(sorted(cancelled_keys)), "new",
                                           "instance cancelled"))
                plan.significant_keys.update(cancelled_keys)
            continue
        if not old_keys:
            plan.actions.append(Action("REQUEST", attendee, tuple(sorted(active)), "new", "new attendee"))
        else:
            # Instances the attendee was taken off while the override stays.
            removed_instances = {k for k in old_keys if k in new_comps and k not in new_keys}
            relevant = (old_keys | active) - removed_instances
            if relevant & changed_keys or (old_keys - removed_instances) != active:
                plan.actions.append(Action("REQUEST", attendee, tuple(sorted(active)), "new", "updated"))
                plan.significant_keys.update(active & changed_keys)
            if removed_instances:
                plan.actions.append(Action("CANCEL", attendee, tuple(sorted(removed_instances)), "old",
                                           "instance removed"))
                plan.significant_keys.update(removed_instances)
        if cancelled_keys:
            plan.actions.append(Action("CANCEL", attendee, tuple(sorted(cancelled_keys)), "new",
                                       "instance cancelled"))
            plan.significant_keys.update(cancelled_keys)
    return plan
