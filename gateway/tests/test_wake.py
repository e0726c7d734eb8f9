"""SIGHUP's retry request reaches both halves of the gateway once each."""

import threading
import time

from imip_gateway import wake


def test_a_request_cuts_the_inbound_backoff_short_and_is_taken_once_by_outbound():
    stop = threading.Event()
    timer = threading.Timer(0.3, wake.request)
    timer.start()
    started = time.monotonic()
    wake.sleep_inbound(stop, 30)
    assert time.monotonic() - started < 5
    assert wake.take_outbound() is True and wake.take_outbound() is False
    timer.join()


def test_without_a_request_the_backoff_is_slept_and_stop_still_ends_it():
    stop = threading.Event()
    started = time.monotonic()
    wake.sleep_inbound(stop, 0.3)
    assert 0.3 <= time.monotonic() - started < 5
    threading.Timer(0.2, stop.set).start()
    started = time.monotonic()
    wake.sleep_inbound(stop, 30)
    assert time.monotonic() - started < 5
