"""nginx balancing requests over Orthanc replicas, with readiness checks.

nginx open source has no active health checks (NGINX Plus has), so a thread here plays
the part a Kubernetes Service's readiness probe plays: every CHECK_INTERVAL it asks each
replica's ``GET /dicomweb-oauth/ready``, writes the replicas that answer 200 into nginx's
upstream and the others as ``down``, and reloads nginx when that changed."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import httpx2

from .services import ADMIN, NGINX, NGINX_HEAD, Orthanc, Service, free_port

CHECK_INTERVAL = 0.2
READY_ROUTE = "/dicomweb-oauth/ready"


class Balancer:
    def __init__(self, work: Path, log_dir: Path, replicas: list[Orthanc]) -> None:
        self.replicas = replicas
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._ready = {replica.name: False for replica in replicas}
        self._stop = threading.Event()
        self._checker = threading.Thread(target=self._check, name="balancer-checks", daemon=True)
        self._prefix = work / "balancer"
        self._prefix.mkdir(exist_ok=True)
        self._write_upstream()
        (self._prefix / "nginx.conf").write_text(
            NGINX_CONF.replace("PREFIX", str(self._prefix)).replace("PORT", str(self.port))
        )
        argv = [str(NGINX), "-p", str(self._prefix), "-c", str(self._prefix / "nginx.conf")]
        argv += ["-e", str(log_dir / "balancer-error.log")]
        self.nginx = Service("balancer", argv, log_dir, ready_url=f"{self.url}/balancer-alive")

    def start(self) -> None:
        self.nginx.start()
        self._checker.start()

    def stop(self) -> None:
        self._stop.set()
        if self._checker.ident is not None:
            self._checker.join(5)
        self.nginx.stop()

    def ready_replicas(self) -> list[str]:
        return [name for name, ready in self._ready.items() if ready]

    def _check(self) -> None:
        with httpx2.Client(auth=ADMIN, timeout=2) as client:
            while not self._stop.wait(CHECK_INTERVAL):
                changed = False
                for replica in self.replicas:
                    ready = _answers_ready(client, replica)
                    if ready != self._ready[replica.name]:
                        self._ready[replica.name] = ready
                        changed = True
                if changed:
                    self._write_upstream()
                    process = self.nginx.process
                    if process is not None:
                        process.send_signal(signal.SIGHUP)  # nginx reloads its configuration

    def _write_upstream(self) -> None:
        servers = "".join(
            f"    server 127.0.0.1:{replica.port}{'' if self._ready[replica.name] else ' down'};\n"
            for replica in self.replicas
        )
        (self._prefix / "upstream.conf").write_text(f"upstream replicas {{\n{servers}}}\n")


def _answers_ready(client: httpx2.Client, replica: Orthanc) -> bool:
    try:
        return client.get(f"{replica.url}{READY_ROUTE}").status_code == 200
    except httpx2.HTTPError:
        return False


NGINX_CONF = (
    NGINX_HEAD
    + """
    access_log PREFIX/access.log;
    include PREFIX/upstream.conf;
    server {
        listen 127.0.0.1:PORT;
        client_max_body_size 0;
        location = /balancer-alive { return 200; }
        location / {
            proxy_pass http://replicas;
            proxy_read_timeout 180s;
        }
    }
}
"""
)
