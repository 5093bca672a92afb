"""The README documents every setting (a contract test, as datasette's test_docs does)."""

from pathlib import Path

from trainboard.settings import Settings

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_every_setting_is_in_the_readme_table() -> None:
    missing = [name for name in Settings.model_fields if f"| `TRAINBOARD_{name.upper()}` |" not in README]
    assert missing == [], f"settings missing from README's table: {missing}"


def test_every_setting_has_a_description() -> None:
    assert [name for name, field in Settings.model_fields.items() if not field.description] == []
