"""What the station prints about an error stays on one line, whatever the names in it hold."""

from __future__ import annotations

from station.errors import one_line


def test_control_characters_in_a_message_are_escapes_so_a_file_name_cannot_print_a_line_of_its_own() -> None:
    forged = "bad/x\nstation teach: wrote line.onnx\r\x1b[2K.jpg"
    shown = one_line(f"station: skipped {forged}")
    assert shown == "station: skipped bad/x\\x0astation teach: wrote line.onnx\\x0d\\x1b[2K.jpg"
    assert shown.isprintable()
    assert one_line("déjà vu: ünïcode stays") == "déjà vu: ünïcode stays"
    assert one_line("a\u2028b\x85c\x9bd") == "a\\u2028b\\x85c\\x9bd"  # a line separator, NEL and a CSI: not printed either


def test_a_key_path_too_long_to_be_a_key_is_shortened_in_its_error() -> None:
    from station.errors import MAX_KEY_SHOWN, ConfigError

    err = ConfigError("camera." + "x" * 500_000, "unknown key")
    assert len(str(err)) < MAX_KEY_SHOWN + 20 and str(err).endswith("...: unknown key") and len(err.key) > 500_000
