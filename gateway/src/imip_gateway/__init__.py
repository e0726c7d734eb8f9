"""imip_gateway: iMIP (RFC 6047) gateway between Radicale and email.

Outbound: Radicale's hook spools every change; the service turns changes of events organized by
local users into iTIP REQUEST/CANCEL mails to external attendees. Inbound (imip_gateway.inbound):
replies read over IMAP are written back to the organizer's event over CalDAV.
"""

__version__ = "0.1.0"
