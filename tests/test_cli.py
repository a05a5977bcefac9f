"""The autobot-apm command line: doctor's hardware section and the parser.

The other doctor sections are tested in test_cli_doctor.py, the demo in test_cli_demo.py.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from autobot_apm.cli import DOCTOR_SECTIONS, build_parser, main


def run_doctor(*extra: str) -> tuple[int, str]:
    out = io.StringIO()
    status = main(["doctor", *extra], out=out)
    return status, out.getvalue()


def fake_npu(root: Path) -> Path:
    device = root / "accel0" / "device"
    device.mkdir(parents=True)
    (device / "npu_busy_time_us").write_text("1000\n")
    (device / "uevent").write_text("DRIVER=intel_vpu\nPCI_SLOT_NAME=0000:00:0b.0\n")
    return root


class TestDoctor:
    def test_exit_status_zero(self) -> None:
        """doctor succeeds on a machine without GPU or NPU."""
        assert 0 == run_doctor()[0]

    def test_hardware_section_lists_cpu_and_memory(self) -> None:
        """The hardware section names the CPUs and the memory it sees."""
        _, text = run_doctor()
        lines = {line.split()[0] for line in text.splitlines()[1:] if line.strip()}
        assert {"cpu", "memory", "process"} <= lines

    def test_missing_hardware_says_why(self, tmp_path: Path) -> None:
        """A part that is missing is listed as absent with its reason."""
        _, text = run_doctor("--npu-sysfs-root", str(tmp_path / "nowhere"))
        [npu_line] = [line for line in text.splitlines() if line.strip().startswith("npu")]
        assert ["npu", "absent"] == npu_line.split()[:2]

    def test_npu_found_under_the_given_root(self, tmp_path: Path) -> None:
        """--npu-sysfs-root points doctor at another sysfs tree; the NPU shows as ok."""
        _, text = run_doctor("--npu-sysfs-root", str(fake_npu(tmp_path)))
        [npu_line] = [line for line in text.splitlines() if "accel0" in line]
        assert ["npu", "accel0", "ok"] == npu_line.split()[:3]


class TestParser:
    def test_a_command_is_required(self) -> None:
        """Running without a command is a usage error (exit status 2)."""
        with pytest.raises(SystemExit) as caught:
            build_parser().parse_args([])
        assert 2 == caught.value.code

    def test_sections_are_small_functions(self) -> None:
        """Doctor is built from section functions: configuration, exporter, hardware, drops."""
        expected = ["configuration_section", "exporter_section", "hardware_section",
                    "dropped_section"]  # fmt: skip
        assert expected == [section.__name__ for section in DOCTOR_SECTIONS]

    def test_demo_needs_at_least_the_scenario(self) -> None:
        """demo --requests below the four scripted requests is a usage error."""
        with pytest.raises(SystemExit) as caught:
            build_parser().parse_args(["demo", "--requests", "3"])
        assert 2 == caught.value.code

    def test_demo_defaults(self) -> None:
        """demo sends eight requests by default, in colour where the terminal allows."""
        args = build_parser().parse_args(["demo"])
        assert (8, False) == (args.requests, args.no_color)
