# ruff: noqa: E501 (mountinfo lines are long)
"""Where the SQLite journal lives: detection on fake `/proc/self/mountinfo` texts, and what
`check` and `write` make of it."""

from __future__ import annotations

from pathlib import Path

import pytest
from airbyte_cdk.models import FailureType, Status
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from destination_crmone.destination import DestinationCrmOne
from destination_crmone.journal import placement
from destination_crmone.journal.placement import (
    check_journal_path,
    disk_kind,
    is_mount_point,
    mount_of,
    parse_mountinfo,
)
from integration_tests.destination.airbyte_input import catalog, customer, stream_messages
from sandbox.crmone import CrmOneSandbox

# A Kubernetes pod (containerd): overlay root, an emptyDir at /scratch, a PVC at /data,
# the service account token on tmpfs.
POD = """\
1873 1402 0:312 / / rw,relatime master:450 - overlay overlay rw,lowerdir=/var/lib/l/1,upperdir=/u
1874 1873 0:315 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw
1880 1873 259:1 /var/lib/kubelet/pods/7c1e/volumes/kubernetes.io~empty-dir/scratch /scratch rw,relatime - ext4 /dev/nvme0n1p1 rw
1881 1873 259:3 /var/lib/kubelet/pods/7c1e/volumes/kubernetes.io~csi/pvc-91/mount /data rw,relatime - ext4 /dev/nvme1n1 rw
1882 1873 0:299 / /var/run/secrets/kubernetes.io/serviceaccount ro,relatime - tmpfs tmpfs rw,size=65536k
"""
# docker-compose: overlay root and a named volume at /local.
COMPOSE = """\
610 540 0:52 / / rw,relatime - overlay overlay rw,lowerdir=/var/lib/docker/overlay2/l/A
650 610 8:1 /var/lib/docker/volumes/crm_journal/_data /local rw,relatime - ext4 /dev/sda1 rw
651 610 0:60 / /tmp rw,nosuid,nodev - tmpfs tmpfs rw
"""
# a laptop
LAPTOP = """\
25 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw,errors=remount-ro
30 25 0:26 / /home/ana/My\\040Files rw - ext4 /dev/sdb1 rw
"""
K8S = {"KUBERNETES_SERVICE_HOST": "10.96.0.1"}


def test_mountinfo_lines_are_parsed_with_optional_fields_and_escapes() -> None:
    mounts = parse_mountinfo(LAPTOP + "garbage line\n")
    assert [(m.mount_point, m.fstype) for m in mounts] == [
        ("/", "ext4"),
        ("/home/ana/My Files", "ext4"),
    ]
    assert mount_of("/home/ana/My Files/j.db", mounts).mount_point == "/home/ana/My Files"
    assert mount_of("/home/ana/My Filesystem/j.db", mounts).mount_point == "/"


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("/airbyte/crmone/journal.db", "container"),
        ("/local/crmone/journal.db", "container"),  # no /local mount in the pod
        ("/scratch/journal.db", "emptyDir"),
        ("/data/crmone/journal.db", None),
        ("/var/run/secrets/kubernetes.io/serviceaccount/j.db", "tmpfs"),
    ],
)
def test_a_pods_disks_are_told_apart(path: str, kind: str | None) -> None:
    assert disk_kind(mount_of(path, parse_mountinfo(POD))) == kind


def test_in_kubernetes_an_ephemeral_journal_is_an_error_naming_both_fixes() -> None:
    mounts = parse_mountinfo(POD)
    for path in ("/home/airbyte/.local/share/destination-crmone/journal.db", "/scratch/j.db"):
        found = check_journal_path(path, environ=K8S, mounts=mounts)
        assert found.problem and not found.warning
        assert "persistent volume" in found.problem and "postgres" in found.problem
        assert "journal.allow_ephemeral" in found.problem
    accepted = check_journal_path("/scratch/j.db", allow_ephemeral=True, environ=K8S, mounts=mounts)
    assert accepted.problem is None and "allow_ephemeral" in (accepted.warning or "")
    assert check_journal_path("/data/j.db", environ=K8S, mounts=mounts).problem is None


def test_outside_kubernetes_a_container_disk_is_a_warning_and_a_volume_is_fine() -> None:
    mounts = parse_mountinfo(COMPOSE)
    found = check_journal_path("/app/journal.db", environ={}, mounts=mounts)
    assert found.problem is None and "lost when the container is removed" in (found.warning or "")
    assert check_journal_path("/local/crmone/journal.db", environ={}, mounts=mounts).warning is None
    laptop = parse_mountinfo(LAPTOP)
    assert check_journal_path("/home/ana/j.db", environ=K8S, mounts=laptop).problem is None


def test_local_counts_only_when_it_is_a_mount_point() -> None:
    assert is_mount_point("/local", parse_mountinfo(COMPOSE))
    assert not is_mount_point("/local", parse_mountinfo(POD))
    assert not is_mount_point("/local", [])


@pytest.fixture
def in_a_pod(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """This process as a pod whose root filesystem is an overlay (the journal's tmp_path is
    on it)."""
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    monkeypatch.setattr(
        placement, "read_mounts", lambda path=placement.MOUNTINFO: parse_mountinfo(POD)
    )
    return tmp_path


def test_check_and_write_refuse_an_ephemeral_journal_in_a_pod(in_a_pod: Path) -> None:
    with CrmOneSandbox() as sandbox:
        config = sandbox.destination_config(str(in_a_pod / "journal.db"))
        status = DestinationCrmOne().check(None, config)  # type: ignore[arg-type]
        assert status.status == Status.FAILED
        assert "persistent volume" in status.message and "journal.allow_ephemeral" in status.message
        with pytest.raises(AirbyteTracedException) as raised:
            list(DestinationCrmOne().write(config, catalog("customers"), iter([])))
        assert raised.value.failure_type == FailureType.config_error
        config["journal"]["allow_ephemeral"] = True
        assert DestinationCrmOne().check(None, config).status == Status.SUCCEEDED  # type: ignore[arg-type]
        output = list(
            DestinationCrmOne().write(
                config, catalog("customers"), iter(stream_messages("customers", [customer(1)], 1))
            )
        )
        warnings = [m.log.message for m in output if m.log and m.log.level.name == "WARN"]
        assert any("allow_ephemeral" in text for text in warnings)
        assert len(sandbox.contacts()) == 1
