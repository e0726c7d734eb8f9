# -*- coding: utf-8 -*-
# Copyright (c) imip.server contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The probe stores of password parity: live SMTP and IMAP logins (private to imip.server).

A probe is never written and runs after every other store (parity.engine); the logins
themselves are in parity.probes.
"""

from __future__ import annotations

from ansible_collections.imip.server.plugins.module_utils.parity import probes
from ansible_collections.imip.server.plugins.module_utils.parity.store import Store, StoreError

DEFAULT_TIMEOUT = 10


class ProbeStore(Store):
    """A live login. It only answers "does this password log in now?"; it is never written."""

    probe = True
    plaintext = False
    writable_type = False
    protocol = None
    default_security = None
    default_ports = {}
    options = dict(
        host=dict(type="str", required=True),
        port=dict(type="int"),
        security=dict(type="str", choices=["starttls", "tls", "none"]),
        username=dict(type="str", required=True),
        validate_certs=dict(type="bool"),
        ca_path=dict(type="path"),
        timeout=dict(type="int"),
    )

    def __init__(self, spec, context):
        security = spec.get("security") or self.default_security
        validate = spec.get("validate_certs")
        self.endpoint = probes.Endpoint(
            self.protocol, spec["host"], spec.get("port") or self.default_ports[security], security, spec["username"],
            spec.get("timeout") or DEFAULT_TIMEOUT, validate is None or validate, spec.get("ca_path"))
        super(ProbeStore, self).__init__(spec, context)

    @classmethod
    def spec_problem(cls, spec, context):
        if spec.get("timeout") is not None and spec["timeout"] <= 0:
            return "timeout must be positive"
        if spec.get("port") is not None and not 0 < spec["port"] < 65536:
            return "port must be between 1 and 65535"
        return None

    def identity(self):
        return (self.type, self.endpoint.host, self.endpoint.port, self.endpoint.username)

    def describe(self):
        return "%s as %s" % (self.endpoint, self.endpoint.username)

    def read(self):
        self.value = None  # nothing to read

    def holds(self, candidate):
        try:
            return probes.LOGINS[self.protocol](self.endpoint, candidate)
        except probes.ProbeError as exc:
            raise StoreError(str(exc))

    def match_message(self):
        return "%s accepts the password" % self.where

    def drift_message(self):
        return "%s rejects the password" % self.where


class SmtpProbe(ProbeStore):
    type = "probe_smtp"
    protocol = "SMTP"
    default_security = "starttls"
    default_ports = {"starttls": 587, "tls": 465, "none": 587}


class ImapProbe(ProbeStore):
    type = "probe_imap"
    protocol = "IMAP"
    default_security = "tls"
    default_ports = {"starttls": 143, "tls": 993, "none": 143}
