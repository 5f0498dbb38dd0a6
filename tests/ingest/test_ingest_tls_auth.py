"""Story: in production the broker wants TLS (mqtts://) and a password; the ingester connects
with --ca-file and credentials, and a wrong password gets it nowhere."""

from __future__ import annotations

import ipaddress
import subprocess
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ingest.alarms import AlarmTracker
from ingest.records import LimsRecorder
from ingest.service import IngestConfig, Ingester
from ingest.store.sqlite_store import SQLiteStore
from ingest.validate import Validator
from tests.ingest.support import (
    T0_MS,
    IngesterThread,
    PrivateMosquitto,
    Publisher,
    json_message,
    private_config,
    wait_until,
)

pytestmark = [pytest.mark.mqtt, pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)]


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_tls_files(d) -> tuple:
    """A throw-away CA and a server certificate for 127.0.0.1."""
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(_name("test CA")).issuer_name(_name("test CA"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(_name("127.0.0.1")).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = d / "ca.crt", d / "server.crt", d / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


def test_ingester_over_tls_with_password(tmp_path, session_factory):
    _, inst, registry = private_config(tmp_path)
    ca, cert, key = make_tls_files(tmp_path)
    passwd = tmp_path / "passwd"
    passwd.touch()
    for user, password in (("ingest", "s3cret"), ("sensor", "pub-pw")):
        subprocess.run(["mosquitto_passwd", "-b", str(passwd), user, password], check=True)
    broker = PrivateMosquitto(
        tmp_path / "mosquitto",
        listener_options=f"cafile {ca}\ncertfile {cert}\nkeyfile {key}\n",
        password_file=passwd,
    ).start()
    topic = f"recyclab/v1/{inst}/main"
    store = SQLiteStore(tmp_path / "ts.db")

    def ingester(password: str) -> Ingester:
        config = IngestConfig(
            broker_url=f"mqtts://127.0.0.1:{broker.port}", ca_file=str(ca), username="ingest",
            password=password, client_id=f"ingest-{uuid.uuid4().hex[:8]}", topics=(topic,),
            spool_path=tmp_path / f"spool-{password}.db",
            status_path=tmp_path / f"status-{password}.json",
        )
        return Ingester(config, store, LimsRecorder(session_factory, AlarmTracker(registry)),
                        Validator(registry))

    pub = Publisher(broker.host, broker.port, ca_file=ca, auth=("sensor", "pub-pw"))
    try:
        wrong = ingester("wrong")
        wrong.connect()
        time.sleep(2)
        assert not wrong.status.broker_connected
        wrong.client.loop_stop()
        wrong.spool.close()

        good = ingester("s3cret")
        with IngesterThread(good, keep_session=True):  # the broker goes away with the test
            for seq in range(20):
                pub.publish(topic, json_message(seq, {"pressure_bar": float(seq)}))
            pub.wait_all_acked(10)
            wait_until(lambda: good.status.messages >= 20, 10, "messages over TLS")
        t0 = datetime.fromtimestamp(T0_MS / 1000, UTC)
        points = store.raw(inst, "pressure_bar", t0, t0 + timedelta(days=1))
        assert [p.value for p in points] == [float(s) for s in range(20)]
    finally:
        pub.close()
        store.close()
        broker.stop()
