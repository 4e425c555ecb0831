"""The paho-style client's network loop: loop(), loop_forever() (with its reconnects) and
the loop_start() thread take batches of events from the Rust core and hand them to the
dispatcher (``_client_callbacks``), so callbacks run in the thread that drives the loop.
Also the support for external loops: socket(), loop_read(), loop_write(), loop_misc() and
the on_socket_* write-interest callbacks in paho's order.
"""

from __future__ import annotations

import os
import socket as _socket
import threading
import time
from typing import TYPE_CHECKING, Any

from ferromqtt._client_constants import (
    _CS_CONNECT_ASYNC,
    _CS_CONNECTION_LOST,
    _CS_DISCONNECTED,
    _CS_DISCONNECTING,
    MQTT_ERR_CONN_LOST,
    MQTT_ERR_NO_CONN,
    MQTT_ERR_NOMEM,
    MQTT_ERR_SUCCESS,
    MQTT_LOG_DEBUG,
)
from ferromqtt._client_constants import (
    now as _now,
)
from ferromqtt._client_errors import _fail, _rc
from ferromqtt.enums import MQTTErrorCode

if TYPE_CHECKING:
    from ferromqtt._client_base import _ClientBase
else:
    _ClientBase = object  # for type checkers only: see _client_base

_BATCH = 256


class _LoopMixin(_ClientBase):
    """The network loop and external-loop support; part of ``ferromqtt.client.Client``."""

    def loop(self, timeout: float = 1.0) -> MQTTErrorCode:
        """Process network events for up to `timeout` seconds (one batch)."""
        if timeout < 0.0:
            raise _fail("negative_timeout")
        if not self._has_connection() and not self._pending_events:
            if self._core is None:
                return _rc("loop_not_connected")
            # Events left after the connection ended (e.g. its on_disconnect).
            rc = self._process(0.0)
            return rc if self._last_batch else _rc("loop_not_connected")
        rc = self._process(timeout)
        self._written()  # as paho's loop() ends with loop_write()
        return rc

    def _process(self, timeout: float) -> MQTTErrorCode:
        """Take one batch of events (waiting up to `timeout`) and run its callbacks."""
        with self._loop_mutex:
            if not self._pending_events:
                core = self._core
                if core is None:
                    return MQTT_ERR_NO_CONN
                # Without an on_publish to call (looked up when the batch is taken), the core
                # settles published messages itself (see _dispatch): no tuple and no
                # Python code per message.
                published = (self, self._infos, self._out_messages)
                taken, events = core.next_events(timeout, _BATCH, published)
                self._pending_events.extend(events)
                self._last_batch = taken
            else:
                self._last_batch = len(self._pending_events)
            if self._last_batch and self._state != _CS_DISCONNECTING:
                # Anything arriving answers what was queued before: that has been written.
                # (After disconnect() the write interest ends as the socket closes.)
                self._written()
            self._dispatching = True
            try:
                return self._dispatch()
            finally:
                self._dispatching = False

    def loop_forever(
        self, timeout: float = 1.0, retry_first_connection: bool = False
    ) -> MQTTErrorCode:
        """Run the network loop until disconnect(), reconnecting after failures."""
        self._in_loop = True
        try:
            return self._loop_forever(timeout, retry_first_connection)
        finally:
            self._in_loop = False

    def _loop_forever(self, timeout: float, retry_first_connection: bool) -> MQTTErrorCode:
        run = True
        while run:
            if self._thread_terminate:
                break
            if self._state == _CS_CONNECT_ASYNC:
                try:
                    self.reconnect()
                except OSError:
                    self._handle_on_connect_fail()
                    if not retry_first_connection:
                        raise
                    self._easy_log(MQTT_LOG_DEBUG, "Connection failed, retrying")
                    self._reconnect_wait()
            else:
                break
        rc = MQTT_ERR_SUCCESS
        while run:
            rc = MQTT_ERR_SUCCESS
            while rc == MQTT_ERR_SUCCESS:
                rc = self._loop_once(timeout)
                if (
                    self._thread_terminate
                    and not self._out_messages
                    and self._state != _CS_DISCONNECTING
                ):
                    rc = MQTT_ERR_NOMEM
                    run = False
            if self._should_exit() or not run or not self._reconnect_on_failure:
                run = False
            else:
                self._reconnect_wait()
                if self._should_exit():
                    run = False
                else:
                    try:
                        self.reconnect()
                    except OSError:
                        self._handle_on_connect_fail()
                        self._easy_log(MQTT_LOG_DEBUG, "Connection failed, retrying")
        return rc

    def _loop_once(self, timeout: float) -> MQTTErrorCode:
        if self._pending_events or self._has_connection():
            rc = self._process(timeout)
            self._written()
            return rc
        if self._core is not None and self._state not in (_CS_CONNECTION_LOST, _CS_DISCONNECTED):
            # The task ended; its last events (on_disconnect) may still be queued.
            rc = self._process(min(timeout, 0.1))
            if rc != MQTT_ERR_SUCCESS:
                return rc
            if not self._has_connection() and not self._pending_events:
                return MQTT_ERR_CONN_LOST
            return rc
        return MQTT_ERR_NO_CONN

    def _should_exit(self) -> bool:
        return self._state in (_CS_DISCONNECTING, _CS_DISCONNECTED) or self._thread_terminate

    def _reconnect_wait(self) -> None:
        now = _now()
        if self._reconnect_delay is None:
            self._reconnect_delay = self._reconnect_min_delay
        else:
            self._reconnect_delay = min(self._reconnect_delay * 2, self._reconnect_max_delay)
        target = now + self._reconnect_delay
        remaining = target - now
        while not self._should_exit() and remaining > 0:
            # Events (loop_stop, disconnect) cut the wait short; no busy loop.
            if self._core is not None:
                self._process(min(remaining, 1.0))
            else:
                time.sleep(min(remaining, 0.1))
            remaining = target - _now()

    def loop_start(self) -> MQTTErrorCode:
        """Start a daemon thread running loop_forever(retry_first_connection=True)."""
        if self._thread is not None:
            return _rc("loop_start_twice")
        self._thread_terminate = False
        self._thread = threading.Thread(
            target=self._thread_main,
            name=f"paho-mqtt-client-{self._client_id.decode(errors='replace')}",
        )
        self._thread.daemon = True
        self._thread.start()
        return MQTT_ERR_SUCCESS

    def loop_stop(self) -> MQTTErrorCode:
        """Stop the loop_start() thread (after in-flight messages complete); no disconnect."""
        thread = self._thread
        if thread is None:
            return _rc("loop_stop_no_thread")
        self._thread_terminate = True
        if self._core is not None:
            self._core.interrupt()
        if threading.current_thread() != thread:
            thread.join()
        return MQTT_ERR_SUCCESS

    def _thread_main(self) -> None:
        try:
            self.loop_forever(retry_first_connection=True)
        finally:
            self._thread = None

    # ---- external loop support --------------------------------------------------------
    def socket(self) -> _socket.socket | None:
        """A socket that is readable while events wait (None when not connected)."""
        if not self._has_connection():
            return None
        if self._sock is None:
            fd = self._core.fileno()
            self._sock = _socket.socket(fileno=_dup(fd))
        return self._sock

    def _close_socket_object(self) -> None:
        sock = self._sock
        if sock is not None:
            self._written(sock)
            self._sock = None
            self._call_socket_callback("on_socket_close", sock)
            sock.close()
        self._registered_write = False

    def _want_write(self) -> None:
        """A packet was handed to the connection: as paho's on queueing one, fire
        on_socket_register_write once (until the next unregister) for external loops."""
        if self._on_socket_register_write is None or self._registered_write:
            return
        sock = self._sock or self.socket()
        if sock is None:
            return
        self._registered_write = True
        self._call_socket_callback("on_socket_register_write", sock)

    def _written(self, sock: Any = None) -> None:
        """What was queued has gone to the connection: on_socket_unregister_write, as
        paho's loop_write() does once its buffer is empty."""
        if not self._registered_write:
            return
        self._registered_write = False
        sock = sock or self._sock
        if sock is not None:
            self._call_socket_callback("on_socket_unregister_write", sock)

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        """Process the events that are waiting (external loops)."""
        if self._core is None:
            return MQTT_ERR_NO_CONN
        rc = self._process(0.0)
        if not self._last_batch and not self._has_connection():
            return MQTT_ERR_NO_CONN
        return rc

    def loop_write(self) -> MQTTErrorCode:
        """The Rust core writes by itself: this only ends the write interest
        (on_socket_unregister_write), as paho's once its buffer is drained."""
        if not self._has_connection():
            return MQTT_ERR_NO_CONN
        self._written()
        return MQTT_ERR_SUCCESS

    def want_write(self) -> bool:
        """Always False: writes never wait for the application's loop."""
        return False

    def loop_misc(self) -> MQTTErrorCode:
        """Keepalive runs in the Rust core; processes any waiting events."""
        if self._core is None or (not self._has_connection() and not self._pending_events):
            return MQTT_ERR_NO_CONN
        return self._process(0.0)


def _dup(fd: int) -> int:
    return os.dup(fd)
