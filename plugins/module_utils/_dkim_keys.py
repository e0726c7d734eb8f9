# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""DKIM signing keys: made, checked and turned into their DNS record (private to imip.server).

The keys are RSA (RFC 6376 requires verifiers to support RSA; Ed25519, RFC 8463, is not yet
verified by every large provider). Everything goes through the openssl command line tool, which
every Debian mail host has; a private key travels through its standard input and output only,
never through an argument, so it never shows in a process list.
"""

from __future__ import annotations

import base64

from ansible_collections.imip.server.plugins.module_utils._names import is_label

# The DER prefix of an RSA SubjectPublicKeyInfo: the AlgorithmIdentifier rsaEncryption
# (1.2.840.113549.1.1.1). An SPKI is what `p=` carries for k=rsa (RFC 6376 3.6.1).
_RSA_OID = bytes.fromhex("06092a864886f70d010101")
MIN_BITS, MAX_BITS = 1024, 4096


class DkimKeyError(Exception):
    """A key that openssl cannot read, or one that is not an RSA key of an accepted size."""


def _openssl(args, data, run):
    """run(argv, data) -> (rc, stdout, stderr), bytes: AnsibleModule.run_command in the module."""
    rc, out, err = run(["openssl"] + args, data)
    if rc == 127:
        raise DkimKeyError("the openssl command is not installed")
    if rc != 0:
        # openssl's first error line names the problem ("Could not read key"); never the input.
        reason = (err.decode("utf-8", "replace").strip().splitlines() or ["exit %d" % rc])[0]
        raise DkimKeyError(reason)
    return out


def generate(bits, run):
    """A new RSA private key of `bits` bits, PEM (PKCS#8) bytes."""
    return _openssl(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:%d" % bits], b"", run)


def public_der(private_pem, run):
    """The SubjectPublicKeyInfo (DER) of an RSA private key given as PEM bytes; DkimKeyError when the
    text is not a private key, not RSA, or its size is outside MIN_BITS..MAX_BITS."""
    if b"PRIVATE KEY-----" not in private_pem:
        raise DkimKeyError("not a PEM private key")
    der = _openssl(["pkey", "-pubout", "-outform", "DER"], private_pem, run)
    if _RSA_OID not in der[:32]:
        raise DkimKeyError("not an RSA key (DKIM keys here are RSA)")
    bits = modulus_bits(der)
    if not MIN_BITS <= bits <= MAX_BITS:
        raise DkimKeyError("an RSA key of %d bits (from %d to %d are accepted)" % (bits, MIN_BITS, MAX_BITS))
    return der


def modulus_bits(spki_der):
    """The modulus size of an RSA SubjectPublicKeyInfo, read from its DER."""
    # SPKI = SEQ { SEQ {oid, NULL}, BIT STRING { SEQ { INTEGER n, INTEGER e } } }
    def item(data, pos):
        tag, length = data[pos], data[pos + 1]
        pos += 2
        if length & 0x80:
            count = length & 0x7F
            length = int.from_bytes(data[pos:pos + count], "big")
            pos += count
        return tag, pos, length

    dummy, pos, dummy = item(spki_der, 0)              # outer SEQUENCE
    dummy, inner, length = item(spki_der, pos)         # AlgorithmIdentifier
    dummy, pos, length = item(spki_der, inner + length)  # BIT STRING
    dummy, pos, dummy = item(spki_der, pos + 1)        # RSAPublicKey SEQUENCE (after the unused-bits byte)
    dummy, pos, length = item(spki_der, pos)           # modulus INTEGER
    modulus = spki_der[pos:pos + length].lstrip(b"\0")
    return len(modulus) * 8 - (8 - modulus[0].bit_length()) if modulus else 0


def txt_record(spki_der):
    """The DKIM key record (RFC 6376 3.6.1) for a public key: `v=DKIM1; k=rsa; p=<base64>`."""
    return "v=DKIM1; k=rsa; p=%s" % base64.b64encode(spki_der).decode("ascii")


def selector_errors(selectors, given, names=("selectors", "keys")):
    """What is wrong with the selector names and the given keys' selectors, as messages that
    name the variables (`names`: what the caller calls the selector list and the key dict)."""
    errors = []
    if not selectors:
        errors.append("%s is empty: list at least the selector that signs" % names[0])
    for name in selectors:
        if not is_label(name):
            errors.append("%s: %r is not a DNS label (letters, digits and '-', at most 63)" % (names[0], name))
    if len(set(map(str, selectors))) != len(selectors):
        errors.append("%s lists a selector twice" % names[0])
    for name in given:
        if name not in selectors:
            errors.append("%s has a key for %r, which is not in %s" % (names[1], name, names[0]))
    return errors
