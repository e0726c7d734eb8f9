"""The inbound half: iTIP replies read over IMAP, validated, written back over CalDAV.

processor.Processor decides one message (pure of IMAP); imap.MailboxWorker moves messages
between the invitation account's folders; service.InboundService runs both for the service
loop. See docs/gateway.md, "Inbound".
"""
