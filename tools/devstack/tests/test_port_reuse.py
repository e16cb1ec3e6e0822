"""Stop → start at once: a port whose last connections linger in TIME_WAIT is free; a live listener is not."""

import socket

from yima_devstack.infra import LOCALHOST, free_port, port_is_free


def _time_wait_on(port: int) -> None:
    """Leave a connection to ``port`` in TIME_WAIT on the server's side, as a stopped server does:
    the server closes first, then the listener goes away."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((LOCALHOST, port))
    listener.listen(1)
    client = socket.create_connection((LOCALHOST, port))
    served, _ = listener.accept()
    served.close()  # the server's side closes first → its end of the connection enters TIME_WAIT
    client.recv(1)  # sees the FIN
    client.close()
    listener.close()


def _plain_bind_fails(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((LOCALHOST, port))
        except OSError:
            return True
        return False


def test_a_port_in_time_wait_counts_as_free() -> None:
    port = free_port()
    _time_wait_on(port)
    # The old check (a bind without SO_REUSEADDR) called this port taken: the test reproduces the case.
    assert _plain_bind_fails(port), "no TIME_WAIT was produced; the test would prove nothing"
    assert port_is_free(port)


def test_a_live_listener_still_counts_as_taken() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((LOCALHOST, 0))
        listener.listen(1)
        assert not port_is_free(listener.getsockname()[1])
