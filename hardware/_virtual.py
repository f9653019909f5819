"""A virtual receipt printer for the demo and for tests.

It keeps every job's bytes, answers real-time status requests like a real printer
and can be told to fail. Over TCP it behaves like a network printer on port 9100:
bytes arrive on a raw socket, ``DLE EOT n`` is answered at once, and a job ends at
a cut command or when the connection closes.

Fault rules:

* While the printer is offline, its cover is open or its paper is out, print data
  is refused: :meth:`VirtualPrinter.send` raises the matching exception and keeps
  nothing; over TCP the bytes are discarded (counted in ``rejected_bytes``) while
  status requests are still answered, as a real printer does.
* :meth:`VirtualPrinter.set_paper_out_after` makes the paper run out in the middle of
  a job: the bytes before that point are kept as a truncated job (it has no cut),
  the printer goes paper-out, and the rest is refused as above.

Thread safety: every method may be called from any thread; the TCP listener and one
thread per connection run in the background until :meth:`VirtualPrinter.stop`.
"""

from __future__ import annotations

import socket
import threading
from types import TracebackType

from hardware._decode import token_length
from hardware._exceptions import CoverOpen, PaperOut, PrinterOffline
from hardware._status import PrinterStatus

__all__ = ["VirtualPrinter"]

_DLE, _EOT, _ENQ, _GS = 0x10, 0x04, 0x05, 0x1D


class _Connection:
    """Reassembles commands from one byte stream, which may split them anywhere."""

    def __init__(self, printer: VirtualPrinter) -> None:
        self.printer = printer
        self.pending = bytearray()  # received, not yet a whole command
        self.job = bytearray()  # accepted print data of the current job
        self.ran_out = False

    def feed(self, chunk: bytes) -> bytes:
        """Take received bytes; returns the status bytes to send back."""
        self.pending += chunk
        reply = bytearray()
        pos = 0
        while pos < len(self.pending):
            token = token_length(self.pending, pos, final=False)
            if token is None:
                break  # a command whose parameters have not all arrived yet
            length = token[0]
            data = bytes(self.pending[pos : pos + length])
            pos += length
            if data[0] == _DLE and length == 3 and data[1] == _EOT:
                reply += self.printer._status_byte(data[2])
            elif data[0] == _DLE and length == 3 and data[1] == _ENQ:
                continue  # recovery request: nothing to recover from in this model
            else:
                is_cut = data[0] == _GS and length >= 3 and data[1] == ord("V")
                self.printer._accept(self, data, is_cut=is_cut)
        del self.pending[:pos]
        return bytes(reply)

    def close(self) -> None:
        """The sender is done: whatever is left ends the job."""
        if self.pending:
            self.printer._accept(self, bytes(self.pending), is_cut=False)
            self.pending.clear()
        self.printer._finish(self)


class VirtualPrinter:
    """An in-process receipt printer that records what it is sent.

    Example::

        printer = VirtualPrinter()
        host, port = printer.serve_tcp()  # point a network Printer at it
        ...
        printer.wait_for_jobs(1)
        preview = render_preview(printer.last_job, profile, font_path)
        printer.stop()
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._jobs: list[bytes] = []
        self._offline = False
        self._cover_open = False
        self._paper_out = False
        self._paper_near_end = False
        self._paper_left: int | None = None  # bytes printable before the roll ends
        self._rejected = 0
        self._stopping = threading.Event()
        self._listener: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None
        self._conn_threads: list[threading.Thread] = []

    # -- state -------------------------------------------------------------------
    @property
    def jobs(self) -> list[bytes]:
        """A copy of every job received so far, oldest first (truncated ones included)."""
        with self._lock:
            return list(self._jobs)

    @property
    def last_job(self) -> bytes | None:
        """The most recent job, or ``None`` before the first one."""
        with self._lock:
            return self._jobs[-1] if self._jobs else None

    @property
    def rejected_bytes(self) -> int:
        """Print data discarded over TCP because of a fault."""
        with self._lock:
            return self._rejected

    def clear(self) -> None:
        """Forget the recorded jobs."""
        with self._lock:
            self._jobs.clear()
            self._rejected = 0

    def wait_for_jobs(self, count: int, timeout: float = 5.0) -> bool:
        """Block until at least ``count`` jobs were recorded.

        Args:
            count: Jobs to wait for.
            timeout: Seconds to wait at most.

        Returns:
            Whether the jobs arrived in time.
        """
        with self._changed:
            return self._changed.wait_for(lambda: len(self._jobs) >= count, timeout)

    def status(self) -> PrinterStatus:
        """The simulated state."""
        with self._lock:
            return PrinterStatus(
                online=not self._not_ready(),
                paper_out=self._paper_out,
                paper_near_end=self._paper_near_end,
                cover_open=self._cover_open,
            )

    def set_offline(self, offline: bool) -> None:
        """Simulate an error that takes the printer offline (status still answers)."""
        with self._lock:
            self._offline = offline

    def set_cover_open(self, cover_open: bool) -> None:
        """Simulate the cover being opened or closed."""
        with self._lock:
            self._cover_open = cover_open

    def set_paper_out(self, paper_out: bool) -> None:
        """Simulate an empty roll (``True``) or a new roll (``False``)."""
        with self._lock:
            self._paper_out = paper_out
            if not paper_out:
                self._paper_left = None

    def set_paper_near_end(self, near_end: bool) -> None:
        """Simulate the near-end sensor; printing goes on."""
        with self._lock:
            self._paper_near_end = near_end

    def set_paper_out_after(self, nbytes: int) -> None:
        """Let the paper run out after ``nbytes`` more bytes of print data."""
        if nbytes < 0:
            raise ValueError("nbytes must not be negative")
        with self._lock:
            self._paper_left = nbytes

    # -- direct sending ----------------------------------------------------------
    def send(self, data: bytes) -> None:
        """Print one job directly, without a socket.

        Args:
            data: ESC/POS bytes. Cut commands inside split it into several jobs.

        Raises:
            PrinterOffline: The printer is offline; nothing was kept.
            CoverOpen: The cover is open; nothing was kept.
            PaperOut: The paper is out (nothing kept), or ran out during this job
                (the part printed before is kept as a truncated job).
        """
        with self._lock:
            if self._offline:
                raise PrinterOffline("virtual printer is offline")
            if self._cover_open:
                raise CoverOpen("virtual printer cover is open")
            if self._paper_out:
                raise PaperOut("virtual printer is out of paper")
        connection = _Connection(self)
        connection.feed(data)
        connection.close()
        if connection.ran_out:
            raise PaperOut("virtual printer ran out of paper during the job")

    # -- used by connections -------------------------------------------------------
    def _not_ready(self) -> bool:
        return self._offline or self._cover_open or self._paper_out

    def _status_byte(self, n: int) -> bytes:
        """Answer to ``DLE EOT n`` (ESC/POS reference; fixed bits 1 and 4 set)."""
        with self._lock:
            if n == 1:  # printer status: bit 3 = offline
                return bytes((0x12 | (0x08 if self._not_ready() else 0),))
            if n == 2:  # offline cause: bit 2 cover, bit 5 paper end stop, bit 6 error
                cause = 0x12
                cause |= 0x04 if self._cover_open else 0
                cause |= 0x20 if self._paper_out else 0
                cause |= 0x40 if self._offline else 0
                return bytes((cause,))
            if n == 3:  # error cause: none simulated
                return b"\x12"
            if n == 4:  # roll paper sensor: bits 2-3 near end, bits 5-6 paper end
                paper = 0x12
                paper |= 0x0C if self._paper_near_end or self._paper_out else 0
                paper |= 0x60 if self._paper_out else 0
                return bytes((paper,))
            return b""  # printers ignore other n

    def _accept(self, connection: _Connection, data: bytes, *, is_cut: bool) -> None:
        with self._changed:
            if self._not_ready():
                self._rejected += len(data)
                return
            if self._paper_left is not None and len(data) >= self._paper_left:
                connection.job += data[: self._paper_left]
                self._paper_left = None
                self._paper_out = True
                connection.ran_out = True
                self._record(connection)
                return
            if self._paper_left is not None:
                self._paper_left -= len(data)
            connection.job += data
            if is_cut:
                self._record(connection)

    def _finish(self, connection: _Connection) -> None:
        with self._changed:
            self._record(connection)

    def _record(self, connection: _Connection) -> None:
        # Caller holds the lock.
        if connection.job:
            self._jobs.append(bytes(connection.job))
            connection.job.clear()
            self._changed.notify_all()

    # -- TCP ---------------------------------------------------------------------
    def serve_tcp(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
        """Listen like a network printer.

        Args:
            host: Address to bind; loopback by default.
            port: TCP port; 0 picks a free one.

        Returns:
            The bound ``(host, port)``.

        Raises:
            RuntimeError: The printer is already listening.
        """
        if self._listener is not None:
            raise RuntimeError("virtual printer is already listening")
        listener = socket.create_server((host, port))
        listener.settimeout(0.2)  # lets the accept loop notice stop()
        self._listener = listener
        self._stopping.clear()
        thread = threading.Thread(
            target=self._accept_loop, args=(listener,), name="virtual-printer-accept", daemon=True
        )
        self._accept_thread = thread
        thread.start()
        bound_host, bound_port = listener.getsockname()[:2]
        return bound_host, bound_port

    def stop(self) -> None:
        """Stop listening, close every connection and join the background threads."""
        self._stopping.set()
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        if self._accept_thread is not None:
            self._accept_thread.join(timeout=5)
            self._accept_thread = None
        # No connection thread starts once the accept loop has ended.
        for thread in self._conn_threads:
            thread.join(timeout=5)
        self._conn_threads.clear()

    def _accept_loop(self, listener: socket.socket) -> None:
        while not self._stopping.is_set():
            try:
                sock, _addr = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # listener closed by stop()
            sock.settimeout(0.2)
            thread = threading.Thread(
                target=self._serve, args=(sock,), name="virtual-printer-conn", daemon=True
            )
            self._conn_threads.append(thread)
            thread.start()

    def _serve(self, sock: socket.socket) -> None:
        connection = _Connection(self)
        with sock:
            while not self._stopping.is_set():
                try:
                    chunk = sock.recv(65536)
                except TimeoutError:
                    continue
                except OSError:
                    break
                if not chunk:
                    break
                reply = connection.feed(chunk)
                if reply:
                    try:
                        sock.sendall(reply)
                    except OSError:
                        break
        connection.close()

    def __enter__(self) -> VirtualPrinter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
