"""Who gets mail: the gateway's scheduling policy.

- Only events whose ORGANIZER is a local user (an address in [gateway] local_domains).
- Only changes in the organizer's own calendars: a local attendee's copy of the event (in their
  calendar) is theirs to change and never mails the organizer's attendees again.
- Not when the organizer opted out: SCHEDULE-AGENT=CLIENT on ORGANIZER (their client sends its
  own iMIP, e.g. Thunderbird on Radicale), or the owner or organizer listed in opt_out_users.
- Recipients: ATTENDEEs with a mailto: address outside the local domains, SCHEDULE-AGENT absent
  or SERVER (RFC 6638 §7.1: CLIENT and NONE mean the server must not send; unknown values count
  as NONE), and not the organizer.
- Local attendees (the same rules, addresses in the local domains) get no mail: the gateway keeps
  their copy in their own calendar instead (`Policy(audience=LOCAL)`, outbound.local), unless
  they are in opt_out_users (their client schedules for them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import icalendar

from imip_gateway.addresses import from_calendar_address, is_mailto
from imip_gateway.attendee_copies import user_names

EXTERNAL, LOCAL = "external", "local"
__all__ = ["EXTERNAL", "LOCAL", "Policy", "user_names"]


@dataclass(frozen=True)
class Policy:
    is_local: Callable[[str], bool]          # address -> in a local domain?
    opt_out_users: tuple[str, ...] = ()      # lower-case user names or addresses
    audience: str = EXTERNAL                 # whom is_recipient picks: EXTERNAL (mail) or LOCAL (copies)

    def organizer_opted_out(self, organizer: icalendar.vCalAddress, owner: str | None) -> str | None:
        """Why no mail is sent for this organizer, or None when the gateway should send."""
        agent = str(organizer.params.get("SCHEDULE-AGENT", "SERVER")).upper()
        if agent == "CLIENT":
            return "organizer has SCHEDULE-AGENT=CLIENT (the client sends its own invitations)"
        if agent not in ("SERVER",):
            return f"organizer has SCHEDULE-AGENT={agent}"
        candidates = set(user_names(organizer))
        if owner:
            candidates.add(owner.lower())
        hit = candidates & set(self.opt_out_users)
        if hit:
            return f"opted out in opt_out_users ({sorted(hit)[0]})"
        return None

    @staticmethod
    def owner_is_organizer(organizer: icalendar.vCalAddress, owner: str | None) -> bool:
        if not owner:
            return True
        return owner.lower() in user_names(organizer)

    def is_recipient(self, attendee: icalendar.vCalAddress, organizer_address: str) -> bool:
        value = str(attendee).strip()
        if not is_mailto(value):
            return False
        address = from_calendar_address(value)
        if "@" not in address or address == organizer_address:
            return False
        if self.is_local(address) != (self.audience == LOCAL):
            return False
        if self.audience == LOCAL and set(user_names(address)) & set(self.opt_out_users):
            return False
        agent = str(attendee.params.get("SCHEDULE-AGENT", "SERVER")).upper()
        return agent == "SERVER"
