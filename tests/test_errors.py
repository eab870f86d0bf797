import pytest

import lcodec


def test_every_error_is_an_lcodec_error():
    for cls in (lcodec.InvalidInputError, lcodec.FormatError, lcodec.ChecksumError,
                lcodec.UnsupportedVersionError, lcodec.UnknownModelError, lcodec.LimitError):
        assert issubclass(cls, lcodec.LcodecError)
    assert issubclass(lcodec.ChecksumError, lcodec.FormatError)
    assert issubclass(lcodec.InvalidInputError, ValueError)


def test_cli_version(capsys):
    from lcodec.cli import main
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert lcodec.__version__ in capsys.readouterr().out
