"""A webhook receiver on 127.0.0.1 for the tests: it records every request and answers as
told (a status, headers, a redirect, or no answer until the test ends). It can keep
connections alive (HTTP/1.1), count them, and serve https with a given certificate.
``RawReceiver`` answers with exact bytes instead, for the tests of the transport itself."""

import contextlib
import socket
import ssl
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"
    hang: bool = False  # never answer (until the receiver stops): a timeout
    drop: bool = False  # close the connection after answering, without saying so


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    def __init__(self, *, keep_alive: bool = False, tls: ssl.SSLContext | None = None) -> None:
        self.received: list[Received] = []
        self.answers: deque[Answer] = deque()
        self.default = Answer()
        self.release = threading.Event()
        self.connections = 0
        self.closed = 0  # connections the receiver closed
        self.scheme = "https" if tls else "http"
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1" if keep_alive else "HTTP/1.0"

            def setup(self) -> None:
                receiver.connections += 1
                super().setup()

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                receiver.received.append(
                    Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                )
                answer = receiver.answers.popleft() if receiver.answers else receiver.default
                if answer.hang:
                    receiver.release.wait()
                    return
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)
                if answer.drop:
                    self.close_connection = True

            def log_message(self, *args) -> None:
                pass

        class Server(ThreadingHTTPServer):
            def shutdown_request(self, request) -> None:
                super().shutdown_request(request)
                receiver.closed += 1

        self.server = Server(("127.0.0.1", 0), Handler)
        if tls is not None:
            # the handshake happens in the connection's own thread, on its first read
            self.server.socket = tls.wrap_socket(
                self.server.socket, server_side=True, do_handshake_on_connect=False
            )
        self.server.daemon_threads = True
        self.server.handle_error = lambda request, address: None  # a refused handshake
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.server.server_address[1]}/hooks"

    def answer(self, *answers: Answer) -> None:
        """The next requests get these answers, in order; then the default (200)."""
        self.answers.extend(answers)

    def __enter__(self) -> "Receiver":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@dataclass
class Reply:
    data: bytes = b""  # written back as it is, whatever it says
    close: bool = False  # then close the connection (without saying so unless ``data`` does)
    hang: bool = False  # never answer (until the receiver stops): a timeout
    trickle: float = 0  # write ``data`` a byte at a time, this many seconds apart


class RawReceiver:
    """A receiver on 127.0.0.1 that reads each request whole (its head and a Content-Length
    body), records it raw with the number of its connection, and writes back the bytes of the
    next reply as given; then the default (a 200 with Content-Length)."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.replies: deque[Reply] = deque()
        self.default = Reply(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        self.requests: list[tuple[int, bytes]] = []  # (connection number from 1, raw request)
        self.connections = 0
        self.ended = 0  # connections the receiver is done with
        self.changed = threading.Condition()
        self.release = threading.Event()
        self.sockets: list[socket.socket] = []
        self.thread = threading.Thread(target=self.serve, daemon=True)

    def url(self, path: str = "/hooks") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def reply(self, *replies: Reply) -> None:
        """The next requests get these replies, in order; then the default."""
        self.replies.extend(replies)

    def wait_ended(self, count: int) -> None:
        """Until the receiver is done with ``count`` connections (it closed them, or they were
        closed)."""
        with self.changed:
            assert self.changed.wait_for(lambda: self.ended >= count, timeout=5)

    def serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.sockets.append(conn)
            self.connections += 1
            handler = threading.Thread(
                target=self.handle, args=(conn, self.connections), daemon=True
            )
            handler.start()

    def handle(self, conn: socket.socket, number: int) -> None:
        buffer = b""
        try:
            with conn:
                while True:
                    request, buffer = read_request(conn, buffer)
                    if request is None:
                        return
                    self.requests.append((number, request))
                    reply = self.replies.popleft() if self.replies else self.default
                    if reply.hang:
                        self.release.wait()
                        return
                    if reply.trickle:
                        for i in range(len(reply.data)):
                            if self.release.wait(reply.trickle):
                                return
                            conn.sendall(reply.data[i : i + 1])
                    else:
                        conn.sendall(reply.data)
                    if reply.close:
                        return
        except OSError:
            pass  # the sender closed its end first
        finally:
            with self.changed:
                self.ended += 1
                self.changed.notify_all()

    def __enter__(self) -> "RawReceiver":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.release.set()
        for sock in [self.listener, *self.sockets]:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes the threads blocked on it
            sock.close()
        self.thread.join(timeout=5)


def read_request(conn: socket.socket, buffer: bytes) -> tuple[bytes | None, bytes]:
    """The next request read whole (None if the connection ended first) and what follows it."""
    while b"\r\n\r\n" not in buffer:
        data = conn.recv(65536)
        if not data:
            return None, b""
        buffer += data
    head, _, rest = buffer.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(rest) < length:
        data = conn.recv(65536)
        if not data:
            return None, b""
        rest += data
    return head + b"\r\n\r\n" + rest[:length], rest[length:]
