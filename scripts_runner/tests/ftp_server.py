"""A real FTP server on 127.0.0.1 (pyftpdlib) for the ftp_download tests."""

import threading
from contextlib import contextmanager

from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import ThreadedFTPServer

FTP_USER = "feed"
FTP_PASSWORD = "ftp-pass-9f3c1"


@contextmanager
def ftp_server(root, *, mlsd=True):
    """Serve `root` read-only to FTP_USER; yields an object with `.port` and `.commands`
    (every command received, e.g. "REST 1024")."""
    authorizer = DummyAuthorizer()
    authorizer.add_user(FTP_USER, FTP_PASSWORD, str(root), perm="elr")
    commands: list[str] = []

    class Handler(FTPHandler):
        def pre_process_command(self, line, cmd, arg):
            commands.append(f"{cmd} {arg or ''}".strip())
            if cmd == "MLSD" and not mlsd:
                self.respond("502 Command not implemented.")
                return
            return super().pre_process_command(line, cmd, arg)

    Handler.authorizer = authorizer
    Handler.banner = "test ftp ready"
    Handler.log_prefix = "ftp"
    server = ThreadedFTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"timeout": 0.1, "blocking": True}, daemon=True
    )
    thread.start()
    server.port = server.socket.getsockname()[1]
    server.commands = commands
    try:
        yield server
    finally:
        server.close_all()
        thread.join(5)
