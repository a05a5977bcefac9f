"""Text primitives of the console views: units, shortening, colour choice, safe writes."""

from __future__ import annotations

import io

import pytest

from autobot_apm._sdk.console.text import (
    format_bytes,
    format_nanos,
    format_number,
    shorten,
    to_ascii,
    wants_color,
    write_text,
)


class TestFormatNanos:
    @pytest.mark.parametrize(
        ("nanos", "expected"),
        [
            (0, "0 µs"),
            (400, "0.40 µs"),
            (850_000, "850 µs"),
            (1_234_567, "1.23 ms"),
            (12_345_678, "12.3 ms"),
            (999_960_000, "1.00 s"),
            (75_000_000_000, "75.0 s"),
            (-2_000_000, "-2.00 ms"),
        ],
    )
    def test_human_units(self, nanos: int, expected: str) -> None:
        """Durations take the largest unit that keeps a leading digit, three figures."""
        assert expected == format_nanos(nanos)


class TestFormatNumbers:
    def test_whole_numbers_in_full(self) -> None:
        """Counts are never rounded or put in scientific notation."""
        assert "1234567" == format_number(1_234_567)

    def test_fractions_with_three_figures(self) -> None:
        """Fractional values keep three significant figures, tiny ones in g-notation."""
        assert ["3.14", "0.00123"] == [format_number(3.14159), format_number(0.00123)]

    def test_bytes(self) -> None:
        """Bytes switch to binary units from 1024."""
        assert ["1023 B", "1.50 KiB", "2.00 GiB"] == [
            format_bytes(1023),
            format_bytes(1536),
            format_bytes(2 * 1024**3),
        ]


class TestShorten:
    def test_cut_with_marker(self) -> None:
        """Long text is cut to the limit, ending in an ellipsis."""
        assert "SELECT a…" == shorten("SELECT a, b FROM t", 9)

    def test_whitespace_collapsed(self) -> None:
        """Newlines and runs of spaces in a query become single spaces."""
        assert "SELECT 1 FROM t" == shorten("SELECT 1\n    FROM t", 40)


class TestAsciiFallback:
    def test_box_drawing_replaced(self) -> None:
        """Tree characters, µ and the error cross have ASCII look-alikes."""
        assert "|  `- x 5 us" == to_ascii("│  └─ ✗ 5 µs")

    def test_write_to_ascii_only_stream(self) -> None:
        """A stream that cannot encode the tree gets the ASCII form instead of an error."""
        raw = io.BytesIO()
        stream = io.TextIOWrapper(raw, encoding="ascii")

        write_text(stream, "├─ 5 µs\n")

        assert b"|- 5 us\n" == raw.getvalue()


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class TestWantsColor:
    def test_terminal(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A terminal gets colour."""
        monkeypatch.delenv("NO_COLOR", raising=False)
        assert wants_color(FakeTerminal())

    def test_no_color_wins(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """NO_COLOR turns colour off even on a terminal."""
        monkeypatch.setenv("NO_COLOR", "1")
        assert not wants_color(FakeTerminal())

    def test_not_a_terminal(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A file or pipe gets no colour."""
        monkeypatch.delenv("NO_COLOR", raising=False)
        assert not wants_color(io.StringIO())

    def test_closed_stream(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A closed stream is not a terminal and does not raise."""
        monkeypatch.delenv("NO_COLOR", raising=False)
        stream = io.StringIO()
        stream.close()
        assert not wants_color(stream)
