"""imip_gateway.addresses: the one set of rules for mail addresses, mailto: CUAs and token addresses.

The tests marked "pinned" fix a rule on which two former copies disagreed (see the module)."""

from __future__ import annotations

import icalendar
import pytest
from hypothesis import given, strategies as st

from imip_gateway import addresses as a
from imip_gateway.attendee_copies import user_names
from imip_gateway.config import InvitationsSection
from imip_gateway.inbound.recipients import InviteAddress

JOERG = "jörg@bücher.example"   # non-ASCII local part and domain (RFC 6531)


# ---------------------------------------------------------------- calendar user addresses
@pytest.mark.parametrize("value", [
    "mailto:bob@ext.test", "MAILTO:Bob@Ext.Test", "Mailto:BOB@EXT.TEST", "bob@ext.test", "Bob@Ext.Test",
    "  mailto:bob@ext.test\t", "\nMAILTO:bob@ext.test \r\n",
])
def test_from_calendar_address_strips_the_scheme_in_any_case_and_lower_cases(value):
    assert a.from_calendar_address(value) == "bob@ext.test"
    assert a.normalise(value) == "bob@ext.test"
    assert a.to_calendar_address(value) == "mailto:bob@ext.test"


def test_from_calendar_address_reads_icalendar_values():
    prop = icalendar.vCalAddress("MAILTO:Bob@Ext.Test")
    prop.params["CN"] = "Bob"
    assert a.from_calendar_address(prop) == "bob@ext.test"
    assert a.to_calendar_address(prop) == "mailto:bob@ext.test"


def test_non_ascii_addresses_keep_their_letters():
    assert a.from_calendar_address("MAILTO:Jörg@Bücher.Example") == JOERG
    assert a.to_calendar_address("JÖRG@BÜCHER.EXAMPLE") == "mailto:" + JOERG
    assert a.same_address("mailto:" + JOERG, "MAILTO:JÖRG@BÜCHER.EXAMPLE")
    assert a.domain_of(JOERG) == "bücher.example" and a.local_part_of(JOERG) == "jörg"


def test_lower_not_casefold():
    # casefold would make straße@ and strasse@ one mailbox (and change every stored key).
    assert a.normalise("Straße@Example.Test") == "straße@example.test"
    assert not a.same_address("straße@example.test", "strasse@example.test")


def test_the_scheme_only_once_and_only_mailto():
    assert a.from_calendar_address("mailto:mailto:bob@x.test") == "mailto:bob@x.test"
    assert a.from_calendar_address("urn:uuid:ABC") == "urn:uuid:abc"
    assert a.from_calendar_address("mailto") == "mailto"


def test_pinned_blanks_after_the_scheme_are_dropped():
    # ical.address_of (outbound) and tokens.normalize_attendee kept them, inbound's cal_address
    # dropped them; a URI holds no blanks, and the reply check always compared this way.
    assert a.from_calendar_address("mailto: Bob@Ext.Test") == "bob@ext.test"
    assert a.to_calendar_address("MAILTO:  bob@ext.test") == "mailto:bob@ext.test"
    assert a.same_address("mailto: bob@ext.test", "bob@ext.test")


def test_pinned_no_value_is_no_address():
    # ical.address_of(None) gave "none"; inbound's cal_address gave "".
    assert a.from_calendar_address(None) == ""
    assert a.from_calendar_address("") == ""
    assert a.from_calendar_address("   ") == ""


def test_same_address():
    assert a.same_address("MAILTO:Bob@Ext.Test", "bob@ext.test")
    assert a.same_address("bob@EXT.test", "mailto:BOB@ext.TEST")
    assert not a.same_address("bob@ext.test", "bob@ext.test.example")
    assert not a.same_address("bob+x@ext.test", "bob@ext.test")   # a subaddress is another address


def test_is_mailto_and_strip_mailto():
    assert a.is_mailto("mailto:x@y") and a.is_mailto("MAILTO:x@y") and a.is_mailto(icalendar.vCalAddress("MaIlTo:x@y"))
    assert not a.is_mailto("x@y") and not a.is_mailto("urn:uuid:1") and not a.is_mailto(" mailto:x@y")
    # strip_mailto keeps case and everything else (for showing an address as written).
    assert a.strip_mailto("MAILTO:Alice@Example.Test") == "Alice@Example.Test"
    assert a.strip_mailto("mailto:bob@ext.test") == "bob@ext.test"
    assert a.strip_mailto("Alice@Example.Test") == "Alice@Example.Test"
    assert a.strip_mailto("urn:uuid:1") == "urn:uuid:1"


_SCHEMES = st.sampled_from(["", "mailto:", "MAILTO:", " Mailto: ", "mailto:mailto:"])


@given(st.builds(lambda scheme, rest: scheme + rest, _SCHEMES, st.text(max_size=40)))
def test_normalising_is_stable(text):
    once = a.normalise(text)
    if not a.is_mailto(once):   # the scheme is stripped once: mailto:mailto:x -> mailto:x
        assert a.normalise(once) == once
    assert a.to_calendar_address(a.to_calendar_address(text)) == a.to_calendar_address(text)
    assert a.same_address(text, a.to_calendar_address(text))


# ---------------------------------------------------------------- parts of an address
def test_split_at_the_last_at_sign():
    assert a.split_address("bob@ext.test") == ("bob", "ext.test")
    assert a.split_address('"a@b"@ext.test') == ('"a@b"', "ext.test")
    assert a.split_address("example.test") == ("", "example.test")
    assert a.domain_of("example.test") == "example.test" and a.local_part_of("example.test") == ""
    assert a.domain_of("bob@") == "" and a.local_part_of("@ext.test") == ""
    assert a.domain_of("Bob@Ext.Test") == "Ext.Test"   # as written: callers compare lower-cased


def test_base_local_part():
    assert a.base_local_part("calendar-invites+tok") == "calendar-invites"
    assert a.base_local_part("calendar-invites+a+b") == "calendar-invites"
    assert a.base_local_part("calendar-invites") == "calendar-invites"
    assert a.base_local_part("+tok") == ""


def test_pinned_user_names_split_at_the_last_at_sign():
    # attendee_copies.user_names split at the first "@"; every other copy at the last (RFC 5321).
    assert user_names("MAILTO:Alice@Example.Test") == ("alice@example.test", "alice")
    assert user_names('"a@b"@example.test') == ('"a@b"@example.test', '"a@b"')
    assert user_names("carol") == ("carol",)
    assert user_names("mailto:" + JOERG) == (JOERG, "jörg")


# ---------------------------------------------------------------- address checks
@pytest.mark.parametrize("address", [
    "bob@ext.test", "Bob.Smith@Ext.Test", "bob+tag@ext.test", "o'neil@ext.test", "a!#$%&'*+/=?^_`{|}~-@x",
    "bob@localhost", "bob@-weird-.test",
])
def test_is_address_accepts_plain_ascii_addresses(address):
    assert a.is_address(address)


@pytest.mark.parametrize("address", [
    "", "bob", "@ext.test", "bob@", "bob@@ext.test", '"bob"@ext.test', "bob smith@ext.test", "bob@ext..test",
    "bob@.ext.test", "bob@ext.test.", JOERG, "joerg@bücher.example", "bob@ext.test\n", "bob@ext_test",
    "bob@\u212aelvin.test",   # the Kelvin sign: not "k" (no IGNORECASE matching)
])
def test_is_address_refuses_the_rest(address):
    assert not a.is_address(address)


def test_pinned_root_dot_only_where_it_was_accepted():
    # The reply check's copy (processor) took one trailing dot; the invitation hand-off's copy
    # (invitations) did not: both kept, by the root_dot flag.
    assert a.is_address("alice@example.test.", root_dot=True)
    assert not a.is_address("alice@example.test.")
    assert not a.is_address("alice@example.test..", root_dot=True)
    assert not a.is_address("alice@.", root_dot=True)
    assert a.is_address("alice@example.test", root_dot=True)


def test_is_invitation_address():
    assert a.is_invitation_address("calendar-invites@example.test")
    assert a.is_invitation_address("Calendar-Invites@Example.Test")
    assert a.is_invitation_address("invites@localhost")
    for bad in ("calendar+invites@example.test", "invites@-example.test", "invites@example.test.",
                "invites@example-", "invites", "in vites@example.test", "jörg@example.test",
                "invites@bücher.example"):
        assert not a.is_invitation_address(bad), bad


def test_pinned_invitation_rule_is_kept_apart_from_is_address():
    # The configuration's rule stays as it was: no "+" (the token delimiter), the domain starts
    # and ends with a letter or digit, but inner dots and hyphens are not checked label by label.
    assert a.is_address("invites+x@example.test") and not a.is_invitation_address("invites+x@example.test")
    assert a.is_address("invites@-x.test") and not a.is_invitation_address("invites@-x.test")
    assert a.is_invitation_address("invites@a..b") and not a.is_address("invites@a..b")


def test_is_header_safe():
    assert a.is_header_safe("bob@ext.test") and a.is_header_safe('"b"@x')
    for bad in ("", "bob", "a@b@c", JOERG, "bob @x", "bob@x\r\nBcc: eve@x", "bob@x\x00"):
        assert not a.is_header_safe(bad), bad


# ---------------------------------------------------------------- token (plus) addresses
TOKEN = "0b7e4a1c-3f7d-4c55-9a4e-2f1d8c6b9e10"


def test_token_address_keeps_case():
    assert a.token_address("calendar-invites", TOKEN, "example.test") == f"calendar-invites+{TOKEN}@example.test"
    assert a.token_address("Invites", "abc", "Example.Test") == "Invites+abc@Example.Test"


@pytest.mark.parametrize("address", [
    f"calendar-invites+{TOKEN}@example.test",
    f"Calendar-Invites+{TOKEN.upper()}@EXAMPLE.TEST",
    f"mailto:calendar-invites+{TOKEN}@example.test",
    f"MAILTO:calendar-invites+{TOKEN}@example.test",
    f"<calendar-invites+{TOKEN}@example.test>",
    f"  calendar-invites+{TOKEN}@example.test\n",
    f"calendar-invites+{TOKEN}@example.test.",
    f"calendar-invites+{TOKEN}@example.org",     # a local domain (alias)
])
def test_parse_token_address_finds_the_token(address):
    assert a.parse_token_address(address, "calendar-invites", ("example.test", "example.org")) == TOKEN


@pytest.mark.parametrize("address", [
    "calendar-invites@example.test",                  # no token
    "calendar-invites+@example.test",                 # empty token
    f"other+{TOKEN}@example.test",                    # another local part
    f"calendar-invites+{TOKEN}@external.test",        # another domain
    f"calendar-invites+{TOKEN}",                      # no domain
    "calendar-invites+a+b@example.test",              # "+" is not in a token of ours
    "calendar-invites+-abc@example.test",             # a token starts with a letter or digit
    "calendar-invites+" + "a" * 129 + "@example.test",
    f"mailto: calendar-invites+{TOKEN}@example.test",  # blanks inside: not ours
    f"calendar-invites+{TOKEN}@bücher.example",
])
def test_parse_token_address_refuses_what_is_not_ours(address):
    assert a.parse_token_address(address, "calendar-invites", ("example.test", "example.org")) is None


def test_parse_token_address_round_trip_and_non_ascii_domain():
    for local, domain in (("calendar-invites", "example.test"), ("Invites", "Bücher.Example")):
        made = a.token_address(local, TOKEN, domain)
        assert a.parse_token_address(made, local, (domain.lower(),)) == TOKEN
        assert a.parse_token_address(a.to_calendar_address(made), local.upper(), (domain.lower(),)) == TOKEN


def test_invite_address_and_config_use_the_same_rule():
    invite = InviteAddress.from_config("Calendar-Invites@Example.Test", ("example.org",))
    section = InvitationsSection(address="calendar-invites@example.test")
    for address in (f"MAILTO:Calendar-Invites+{TOKEN}@example.test", f"<calendar-invites+{TOKEN}@example.test.>",
                    "calendar-invites@example.test", "calendar-invites+a+b@example.test"):
        assert invite.token_of(address) == section.token_from_address(address)
    assert section.token_address(TOKEN) == f"calendar-invites+{TOKEN}@example.test"
    assert section.local_part == "calendar-invites" and section.domain == "example.test"
    assert invite.token_of(f"calendar-invites+{TOKEN}@example.org") == TOKEN   # local domains: inbound only
    assert section.token_from_address(f"calendar-invites+{TOKEN}@example.org") is None


def test_pinned_config_token_from_address_follows_the_inbound_rule():
    # InvitationsSection.token_from_address (used by nothing but its test) took any text after
    # "<local>+"; inbound's InviteAddress.token_of, the one that finds real replies, only what
    # looks like a token. Both now use parse_token_address.
    section = InvitationsSection(address="calendar-invites@example.test")
    assert section.token_from_address("MAILTO:Calendar-Invites+ABC@example.test") == "abc"
    assert section.token_from_address("calendar-invites+a+b@example.test") is None
    assert section.token_from_address("calendar-invites+a b@example.test") is None
    assert section.token_from_address("<calendar-invites+abc@example.test>") == "abc"
    assert section.token_from_address("calendar-invites+abc@example.test.") == "abc"


def test_pinned_one_token_per_mailbox_whatever_the_spelling(tmp_path):
    # tokens.normalize_attendee (and outbound.schema's copy) kept blanks after "mailto:"; the
    # key is now to_calendar_address, the same rule the reply check compares with.
    from imip_gateway import db
    from imip_gateway.outbound.schema import last_sent_sequence
    from imip_gateway.tokens import TokenStore

    conn = db.connect(tmp_path / "gateway.db")
    store = TokenStore(conn)
    first = store.token_for("mailto:alice@example.test", "MAILTO:Bob@Ext.Test", "uid-1", now=1.0)
    for spelling in ("bob@ext.test", "mailto:BOB@EXT.TEST", " mailto: bob@ext.test ", "Mailto:Bob@Ext.Test"):
        assert store.token_for("mailto:alice@example.test", spelling, "uid-1", now=2.0) == first
    assert store.lookup(first).attendee == "mailto:bob@ext.test"
    assert store.lookup(first.upper()).token == first
    conn.execute("INSERT INTO attendee_sequences (uid, recurrence_id, attendee, sequence, updated)"
                 " VALUES (?, ?, ?, ?, ?)", ("uid-1", "", "mailto:bob@ext.test", 3, 1.0))
    assert last_sent_sequence(conn, "uid-1", "", "MAILTO: Bob@Ext.Test") == 3
    conn.close()
