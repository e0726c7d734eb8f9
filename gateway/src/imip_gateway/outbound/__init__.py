"""The outbound half: spooled Radicale changes -> iTIP REQUEST/CANCEL mails to external attendees."""
