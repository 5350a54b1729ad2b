"""asyncio streams: beyond the course, what a Python developer reaches for next.

Each connection is a task running the same loop as the blocking driver, with
``await`` where the blocking driver would block: reading waits until the
core's deadline, writing waits for the stream to drain, and files go out
through ``loop.sendfile`` (the kernel's sendfile on Unix). Writes are bounded
per piece, so a client that stops reading is dropped after ``send_timeout``
without progress but a slow one that keeps reading is not.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time

from reference.backends.base import Backend
from reference.core import Action, Close, Connection, Send, SendFile, ShutdownWrite
from reference.limits import RECEIVE_SIZE
from reference.responses import ShortFile

log = logging.getLogger("reference")

SENDFILE_PIECE = 1024 * 1024


class AsyncioBackend(Backend):
    """One task per connection on an asyncio event loop."""

    supports_workers = True

    def serve(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        loop = asyncio.get_running_loop()
        stopping = asyncio.Event()
        loop.add_reader(self.site.stop_signal.fileno, stopping.set)
        self._live: dict[asyncio.Task, Connection] = {}
        server = await asyncio.start_server(self._serve_connection, sock=self.listener)
        await stopping.wait()
        loop.remove_reader(self.site.stop_signal.fileno)
        server.close()
        now = time.monotonic()
        for task, connection in list(self._live.items()):
            # Idle connections close at once; busy ones finish with Connection: close.
            if connection.stop(now):
                task.cancel()
        if self._live:
            await asyncio.wait(list(self._live), timeout=self.site.limits.shutdown_grace)

    async def _serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        connection = self.site.connection(time.monotonic())
        task = asyncio.current_task()
        assert task is not None  # start_server runs each handler in a task of its own.
        self._live[task] = connection
        try:
            await self._drive(connection, reader, writer)
        except (OSError, TimeoutError) as error:
            log.debug("connection ended early: %s", error)
        except asyncio.CancelledError:
            # Only shutdown cancels a connection, and it is the end we want. Ending
            # normally matters: Python 3.11's start_server logs a cancelled
            # handler task as an unhandled error, traceback and all.
            pass
        finally:
            del self._live[task]
            if connection.closed:
                writer.close()
            else:
                writer.transport.abort()

    async def _drive(
        self, connection: Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        actions: list[Action] = []
        while True:
            await self._perform(actions, writer)
            actions = connection.output_drained(time.monotonic())
            if actions:
                continue
            if connection.closed:
                return
            try:
                # asyncio.timeout, not wait_for: wait_for wraps the read in a task of its
                # own, which on every request cost more than the rest of the loop.
                async with asyncio.timeout(max(connection.deadline - time.monotonic(), 0.0)):
                    data = await reader.read(RECEIVE_SIZE)
            except TimeoutError:
                actions = connection.deadline_passed(time.monotonic())
            else:
                actions = connection.data_received(data, time.monotonic())

    async def _perform(self, actions: list[Action], writer: asyncio.StreamWriter) -> None:
        send_timeout = self.site.limits.send_timeout
        for action in actions:
            if isinstance(action, Send):
                writer.write(action.data)
                # Nearly always the socket took it all: nothing to wait for.
                if writer.transport.get_write_buffer_size():
                    async with asyncio.timeout(send_timeout):
                        await writer.drain()
            elif isinstance(action, SendFile):
                await self._send_file(action, writer)
            elif isinstance(action, ShutdownWrite):
                writer.write_eof()
            elif isinstance(action, Close):
                return

    async def _send_file(self, action: SendFile, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        segment = action.segment
        with open(segment.path, "rb") as stream:
            offset, left = segment.offset, segment.count
            while left:
                piece = min(left, SENDFILE_PIECE)
                try:
                    sent = await asyncio.wait_for(
                        loop.sendfile(writer.transport, stream, offset, piece),
                        self.site.limits.send_timeout,
                    )
                except RuntimeError:
                    # loop.sendfile refuses a transport that a client reset closed
                    # between two pieces; that is a client leaving, not a server bug.
                    if not writer.transport.is_closing():
                        raise
                    raise ConnectionResetError("client went away during sendfile") from None
                if sent == 0:
                    raise ShortFile(segment.path)
                offset += sent
                left -= sent
