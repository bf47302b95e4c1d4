"""A real mosquitto on a free loopback port, with its own config file, started and stopped by the tests: plain, TLS
(a test CA, server and client certificates generated here with `cryptography`, never committed), and
username/password with an ACL file."""

from __future__ import annotations

import datetime
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from edge.ports import free_port

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"


class Broker:
    def __init__(
        self,
        workdir: Path,
        port: int | None = None,
        extra: str = "",
        persistent: bool = False,
        tls: Pki | None = None,
        require_client_cert: bool = False,
        users: dict[str, str] | None = None,
        acl: str | None = None,
    ):
        self.dir, self.port = Path(workdir), port or free_port()
        self.dir.mkdir(parents=True, exist_ok=True)
        self.dir.chmod(0o777)  # mosquitto started as root drops to user mosquitto
        self.conf = self.dir / "mosquitto.conf"
        lines = [f"listener {self.port} 127.0.0.1", f"allow_anonymous {'false' if users else 'true'}"]
        if os.geteuid() == 0:  # as root mosquitto would drop to user mosquitto, who cannot read pytest's 0700 tmp dirs
            lines.append("user root")
        lines += [f"persistence true\npersistence_location {self.dir}/"] if persistent else ["persistence false"]
        if tls:
            lines += [f"cafile {tls.ca}", f"certfile {tls.server_cert}", f"keyfile {tls.server_key}"]
            if require_client_cert:
                lines += ["require_certificate true"]
        if users:
            pw = self.dir / "passwords"
            pw.write_text("")
            for user, password in users.items():
                subprocess.run([MOSQUITTO_PASSWD, "-b", str(pw), user, password], check=True, capture_output=True)
            pw.chmod(0o644)
            lines += [f"password_file {pw}"]
        if acl is not None:
            (self.dir / "acl").write_text(acl)
            (self.dir / "acl").chmod(0o644)
            lines += [f"acl_file {self.dir / 'acl'}"]
        self.conf.write_text("\n".join(lines) + "\n" + extra)
        self.proc = None

    def start(self) -> Broker:
        # the log goes to a file: a pipe nobody reads fills up and then blocks the broker mid-test
        self.log = self.dir / "mosquitto.log"
        seen = self.log.stat().st_size if self.log.exists() else 0  # a restart appends to the same log
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.log.read_bytes()[seen:].decode(errors='replace')[-500:]}")
            # our own broker is listening only once it says so (another test's broker may hold a port we picked)
            if f"listen socket on port {self.port}" in self.log.read_bytes()[seen:].decode(errors="replace"):
                socket.create_connection(("127.0.0.1", self.port), 1).close()
                return self
            time.sleep(0.05)
        raise RuntimeError("mosquitto did not start listening")

    def stop(self, graceful: bool = False) -> None:
        """SIGKILL, or SIGTERM (then mosquitto saves its persistent sessions before it exits)."""
        if self.proc and self.proc.poll() is None:
            (self.proc.terminate if graceful else self.proc.kill)()
            self.proc.wait(10)


class Pki:
    """A throwaway CA with a server certificate for 127.0.0.1/localhost and a client certificate, in `folder`."""

    def __init__(self, folder: Path, name: str = "edgekit test CA"):
        import ipaddress

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o777)
        now = datetime.datetime.now(datetime.timezone.utc)

        def key():
            return ec.generate_private_key(ec.SECP256R1())

        def write(path: Path, data: bytes) -> Path:
            path.write_bytes(data)
            path.chmod(0o644)  # readable by the mosquitto user; throwaway test keys only
            return path

        def pem_key(k) -> bytes:
            return k.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )

        ca_key = key()
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        ca = (
            x509.CertificateBuilder()
            .subject_name(ca_name)
            .issuer_name(ca_name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256())
        )

        def leaf(cn: str, usage, san=None):
            k = key()
            b = (
                x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
                .issuer_name(ca_name)
                .public_key(k.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            )
            if san:
                b = b.add_extension(x509.SubjectAlternativeName(san), critical=False)
            return b.sign(ca_key, hashes.SHA256()), k

        server, server_key = leaf(
            "localhost",
            ExtendedKeyUsageOID.SERVER_AUTH,
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
        )
        client, client_key = leaf("door-tls", ExtendedKeyUsageOID.CLIENT_AUTH)
        pem = serialization.Encoding.PEM
        self.ca = write(folder / "ca.crt", ca.public_bytes(pem))
        self.server_cert = write(folder / "server.crt", server.public_bytes(pem))
        self.server_key = write(folder / "server.key", pem_key(server_key))
        self.client_cert = write(folder / "client.crt", client.public_bytes(pem))
        self.client_key = write(folder / "client.key", pem_key(client_key))
