# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Whether a host's certificate must be (re)issued, and why (the tls role's acme provider).

Decided from what is on the host alone (the installed certificate, the public half of its key,
and the CA recorded at issue), so that a run with nothing due asks the CA nothing. Pure: the
filter imip.server.tls_renewal wraps it; the role reads the files.
"""

from __future__ import annotations

import datetime

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    HAS_CRYPTOGRAPHY = True
except ImportError:  # pragma: no cover - reported by the filter
    HAS_CRYPTOGRAPHY = False


def _not_after(cert):
    value = getattr(cert, "not_valid_after_utc", None)
    if value is None:  # cryptography < 42: naive UTC
        value = cert.not_valid_after.replace(tzinfo=datetime.timezone.utc)
    return value


def _dns_names(cert):
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    return [name.lower() for name in ext.value.get_values_for_type(x509.DNSName)]


def _spki(public_key):
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def renewal(current, names, renew_days, public_key="", key_changed=False, issuer="", wanted_issuer="", now=None):
    """{due, reasons, serial, not_after, names} for the installed certificate `current` (PEM)."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    wanted = sorted({n.lower() for n in names})
    result = {"due": False, "reasons": [], "serial": "", "not_after": "", "names": []}
    if not (current or "").strip():
        result.update(due=True, reasons=["there is no certificate yet"])
        return result
    try:
        cert = x509.load_pem_x509_certificate(current.encode("ascii") if isinstance(current, str) else current)
    except ValueError as exc:
        result.update(due=True, reasons=["the installed certificate cannot be read (%s)" % exc])
        return result
    not_after = _not_after(cert)
    have = sorted(set(_dns_names(cert)))
    result.update(serial="%x" % cert.serial_number, not_after=not_after.strftime("%Y-%m-%dT%H:%M:%SZ"), names=have)
    reasons = _name_change(have, wanted) + _key_change(cert, public_key, key_changed)
    if wanted_issuer and issuer != wanted_issuer:
        reasons.append("it was not issued by %s%s" % (wanted_issuer, " (but by %s)" % issuer if issuer else ""))
    reasons += _expiry(not_after - now, result["not_after"], int(renew_days))
    result.update(due=bool(reasons), reasons=reasons)
    return result


def _name_change(have, wanted):
    if have == wanted:
        return []
    missing = [n for n in wanted if n not in have]
    extra = [n for n in have if n not in wanted]
    return ["its names change (%s)" % ", ".join(["+" + n for n in missing] + ["-" + n for n in extra])]


def _key_change(cert, public_key, key_changed):
    if key_changed:
        return ["the host's key is new"]
    if public_key:
        key = serialization.load_pem_public_key(public_key.encode("ascii") if isinstance(public_key, str) else public_key)
        if _spki(key) != _spki(cert.public_key()):
            return ["its key is not the host's key"]
    return []


def _expiry(left, not_after, renew_days):
    if left >= datetime.timedelta(days=renew_days):
        return []
    if left.total_seconds() <= 0:
        return ["it expired on %s" % not_after]
    return ["it expires on %s, in fewer than %d days" % (not_after, renew_days)]
