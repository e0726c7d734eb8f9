"""Radicale hook: `[hook] type = imip_gateway.radicale_hook`, option `[hook] spool_dir`.

Radicale calls `Hook.notify(item)` synchronously, inside its storage write lock, for every
PUT/DELETE/PROPPATCH. So this module only writes one durable spool record and returns: no
network, no parsing, never an exception (a failing hook must not fail the user's PUT). The
gateway service ingests the records and does the real work.

Record: <spool_dir>/hook/tmp/<id>.json, fsync, rename to hook/new/<id>.json, fsync the
directory. A reader never sees a half-written file, and a record that reached new/ survives a
crash or power cut.

This module imports only the standard library and radicale: it is installed (--no-deps) into
Radicale's own venv. On load it writes <spool_dir>/hook/loaded (pid, time), which the
gateway's start check reads: Radicale silently falls back to no hook when a hook fails to load.
"""

import json
import logging
import os
import time
import uuid

from radicale import hook

DEFAULT_SPOOL_DIR = "/var/spool/imip-gateway"

log = logging.getLogger("radicale")


def _fsync_dir(path):
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_durably(tmp_path, final_path, data):
    fd = os.open(tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o660)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(tmp_path, final_path)
    _fsync_dir(os.path.dirname(final_path))


def _spool_dir(configuration):
    try:
        value = configuration.get("hook", "spool_dir")
    except Exception:  # the option is untyped and optional
        value = None
    return str(value) if value else DEFAULT_SPOOL_DIR


class Hook(hook.BaseHook):
    def __init__(self, configuration):
        super().__init__(configuration)
        self.spool_dir = _spool_dir(configuration)
        self.tmp_dir = os.path.join(self.spool_dir, "hook", "tmp")
        self.new_dir = os.path.join(self.spool_dir, "hook", "new")
        self._mark_loaded()

    @property
    def enabled(self):
        return True

    def _mark_loaded(self):
        try:
            os.makedirs(self.tmp_dir, exist_ok=True)
            os.makedirs(self.new_dir, exist_ok=True)
            marker = os.path.join(self.spool_dir, "hook", "loaded")
            data = json.dumps({"pid": os.getpid(), "time": time.time(),
                               "spool_dir": self.spool_dir}).encode()
            tmp = "%s.%d.tmp" % (marker, os.getpid())
            _write_durably(tmp, marker, data)
            log.info("imip_gateway hook loaded, spooling to %s", self.new_dir)
        except Exception as exc:  # never stop Radicale; the gateway's start check reports it
            log.error("imip_gateway hook: cannot write %s/hook/loaded: %s", self.spool_dir, exc)

    def notify(self, notification_item):
        try:
            self._spool(notification_item)
        except Exception as exc:
            # The reconciliation by sync-collection catches what is lost here.
            try:
                log.error("imip_gateway hook: could not spool %s notification for %s: %s",
                          getattr(notification_item, "type", "?"),
                          getattr(notification_item, "point", "?"), exc)
            except Exception:
                pass

    def _spool(self, item):
        record_id = "%d-%s" % (time.time_ns(), uuid.uuid4().hex)
        record = {
            "id": record_id,
            "received": time.time(),
            "type": getattr(item, "type", None),
            "point": getattr(item, "point", None),
            "uid": getattr(item, "uid", None),
            "content_type": getattr(item, "content_type", None),
            "old_content": getattr(item, "old_content", None),
            "new_content": getattr(item, "new_content", None),
            "actor": getattr(item, "actor", None),
        }
        data = json.dumps(record).encode("utf-8")
        name = record_id + ".json"
        _write_durably(os.path.join(self.tmp_dir, name), os.path.join(self.new_dir, name), data)
