"""The virtual printer: jobs, faults and the 9100-style TCP listener (hardware._virtual)."""

from __future__ import annotations

import socket
from collections.abc import Callable

import pytest

from hardware import (
    PROFILES,
    CoverOpen,
    Document,
    PaperOut,
    PrinterError,
    PrinterOffline,
    Text,
    VirtualPrinter,
    decode,
    render,
)

PROFILE = PROFILES["generic-80-gbk"]
CUT = b"\x1dV\x42\x00"


def job(text: str) -> bytes:
    return render(Document((Text(text),)), PROFILE)


def texts(data: bytes) -> list[str]:
    return decode(data, PROFILE.encoding, chinese_at_power_on=False).text_lines


def status_over(sock: socket.socket, n: int) -> int:
    sock.sendall(bytes((0x10, 0x04, n)))
    answer = sock.recv(1)
    assert len(answer) == 1
    return answer[0]


def test_send_keeps_each_job_split_at_cuts() -> None:
    printer = VirtualPrinter()
    printer.send(job("第一张") + job("第二张"))
    assert [texts(j) for j in printer.jobs] == [["第一张"], ["第二张"]]
    assert texts(printer.last_job or b"") == ["第二张"]


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (VirtualPrinter.set_offline, PrinterOffline),
        (VirtualPrinter.set_cover_open, CoverOpen),
        (VirtualPrinter.set_paper_out, PaperOut),
    ],
)
def test_faults_refuse_the_job_and_keep_nothing(
    fault: Callable[[VirtualPrinter, bool], None], error: type[PrinterError]
) -> None:
    printer = VirtualPrinter()
    fault(printer, True)
    with pytest.raises(error):
        printer.send(job("芋泥波波"))
    assert printer.jobs == []
    assert not printer.status().online
    fault(printer, False)
    printer.send(job("芋泥波波"))
    assert printer.status().ready and len(printer.jobs) == 1


def test_paper_running_out_mid_job_keeps_the_printed_part() -> None:
    printer = VirtualPrinter()
    data = job("芋泥波波")
    printer.set_paper_out_after(len(data) - len(CUT))
    with pytest.raises(PaperOut):
        printer.send(data)
    (partial,) = printer.jobs
    assert partial == data[: len(data) - len(CUT)]  # everything but the cut
    assert texts(partial) == ["芋泥波波"]
    assert decode(partial, "gbk").cuts == []
    assert printer.status().paper_out


def test_tcp_jobs_end_at_the_cut_and_at_close(virtual_printer: VirtualPrinter) -> None:
    address = virtual_printer.serve_tcp()
    with socket.create_connection(address, timeout=5) as sock:
        sock.sendall(job("第一张") + b"\x1b@tail without cut\n")
    assert virtual_printer.wait_for_jobs(2)
    first, second = virtual_printer.jobs
    assert texts(first) == ["第一张"] and first.endswith(CUT)
    assert texts(second) == ["tail without cut"]


def test_tcp_reassembles_commands_split_across_packets(virtual_printer: VirtualPrinter) -> None:
    address = virtual_printer.serve_tcp()
    data = job("杨枝甘露(大)")
    with socket.create_connection(address, timeout=5) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(len(data)):
            sock.sendall(data[i : i + 1])  # the cut arrives one byte at a time
    assert virtual_printer.wait_for_jobs(1)
    assert virtual_printer.jobs == [data]


def test_tcp_answers_status_requests_from_the_simulated_state(
    virtual_printer: VirtualPrinter,
) -> None:
    address = virtual_printer.serve_tcp()
    with socket.create_connection(address, timeout=5) as sock:
        assert [status_over(sock, n) for n in (1, 2, 3, 4)] == [0x12, 0x12, 0x12, 0x12]
        virtual_printer.set_paper_near_end(True)
        assert status_over(sock, 4) == 0x1E  # bits 2-3: near end
        virtual_printer.set_paper_out(True)
        assert status_over(sock, 1) == 0x1A  # bit 3: offline
        assert status_over(sock, 2) == 0x32  # bit 5: stopped by paper end
        assert status_over(sock, 4) == 0x7E  # bits 5-6: paper end
        virtual_printer.set_paper_out(False)
        virtual_printer.set_paper_near_end(False)
        virtual_printer.set_cover_open(True)
        assert status_over(sock, 2) == 0x16  # bit 2: cover open
    # Status requests are answered, never kept as print data.
    assert virtual_printer.jobs == []


def test_tcp_discards_print_data_while_faulty(virtual_printer: VirtualPrinter) -> None:
    address = virtual_printer.serve_tcp()
    virtual_printer.set_paper_out(True)
    data = job("不会打印")
    with socket.create_connection(address, timeout=5) as sock:
        sock.sendall(data)
        assert status_over(sock, 4) & 0x60  # the answer comes after all data was read
    assert virtual_printer.jobs == []
    assert virtual_printer.rejected_bytes == len(data)


def test_stop_closes_the_port(virtual_printer: VirtualPrinter) -> None:
    address = virtual_printer.serve_tcp()
    virtual_printer.stop()
    with pytest.raises(OSError):
        socket.create_connection(address, timeout=1).close()
