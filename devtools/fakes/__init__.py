"""Local stand-ins for outside systems (SMTP, ...), shared by tests and benchmarks. Each
listens on 127.0.0.1 only and honours the real system's contract."""
