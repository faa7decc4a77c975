"""Prompt stage: messages from the templates, article text kept verbatim, versioned templates."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jinja2
import pytest

from extractor import Article, CardLimits
from extractor.core.card import DEFAULT_LIMITS
from extractor.core.schema import SECTIONS, card_schema
from extractor.pipeline.prompting import Prompts, prompts_dir

ARTICLE = Article(
    text="Rooftop solar runs the grid.\n\nSee {{ 7*7 }} and {% if x %}shown{% endif %} {# c #}",
    title="Solar {{ 6*7 }} Grid",
)


def _user(section: str, schema: dict | None = None, **kwargs: object) -> str:
    messages = Prompts().messages(ARTICLE, section, DEFAULT_LIMITS, schema, **kwargs)
    return messages[1]["content"]


def _copy_prompts(target: Path) -> Path:
    shutil.copytree(prompts_dir(), target)
    return target


@pytest.mark.parametrize("section", [*SECTIONS, "card"])
def test_messages_are_system_then_user(section: str) -> None:
    messages = Prompts().messages(ARTICLE, section, DEFAULT_LIMITS, None)
    assert [m["role"] for m in messages] == ["system", "user"]
    system, user = messages[0]["content"], messages[1]["content"]
    assert "signal cards" in system and ARTICLE.text not in system
    assert f"<article>\n{ARTICLE.text}\n</article>" in user
    assert user.index("</article>") < len(user) - len("</article>")  # a task follows the article
    assert user == user.strip()


def test_article_is_data_not_template() -> None:
    user = _user("keywords")
    assert "{{ 7*7 }}" in user and "{% if x %}shown{% endif %}" in user and "{# c #}" in user
    assert 'titled "Solar {{ 6*7 }} Grid"' in user
    assert "49" not in user and "42" not in user


def test_untitled_article() -> None:
    messages = Prompts().messages(Article(text="Just text."), "title", DEFAULT_LIMITS, None)
    assert messages[1]["content"].startswith("Article:\n<article>\nJust text.\n</article>")


@pytest.mark.parametrize(
    ("first", "second"), [("keywords", "themes"), ("title", "signals"), ("summary", "card")]
)
def test_sections_share_the_article_as_prefix(first: str, second: str) -> None:
    one, two = _user(first), _user(second)
    end = one.index("</article>") + len("</article>")
    assert one[:end] == two[:end]  # the whole article is a common prefix
    assert one[end:] != two[end:]
    assert one.index(ARTICLE.text) < end <= len(one) - 1


def test_task_uses_limits() -> None:
    limits = CardLimits(keywords=(3, 7), themes=(1, 2), signals=(4, 5))
    user = Prompts().messages(ARTICLE, "keywords", limits, None)[1]["content"]
    assert "list 3 to 7 different names" in user
    card = Prompts().messages(ARTICLE, "card", limits, None)[1]["content"]
    assert '"themes": 1 to 2' in card and '"signals": 4 to 5' in card


@pytest.mark.parametrize("section", ["keywords", "card"])
def test_schema_in_user_message_only_when_given(section: str) -> None:
    schema = card_schema(DEFAULT_LIMITS, SECTIONS if section == "card" else [section])
    text = json.dumps(schema, ensure_ascii=False)
    with_schema, without = _user(section, schema), _user(section, None)
    assert text in with_schema and with_schema.index(text) > with_schema.index("</article>")
    assert "JSON schema" not in without and '"additionalProperties"' not in without
    assert with_schema.startswith(without)


def test_summary_as_sentences() -> None:
    assert "Answer as a JSON list of sentences." in _user("summary", sentences=True)
    plain = _user("summary")
    assert 'Answer as {"summary": "..."}.' in plain and "list of sentences" not in plain


def test_version_depends_on_content_only(tmp_path: Path) -> None:
    same, edited = _copy_prompts(tmp_path / "same"), _copy_prompts(tmp_path / "edited")
    task = edited / "task.j2"
    task.write_text(task.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    default = Prompts().version
    assert len(default) == 12 and int(default, 16) >= 0
    assert Prompts(same).version == default == Prompts(same).version
    assert Prompts(edited).version != default


def test_version_changes_with_a_new_template(tmp_path: Path) -> None:
    extra = _copy_prompts(tmp_path / "extra")
    (extra / "notes.j2").write_text("x", encoding="utf-8")
    assert Prompts(extra).version != Prompts().version


def test_version_follows_an_edit_in_place(tmp_path: Path) -> None:
    directory = _copy_prompts(tmp_path / "p")
    before = Prompts(directory).version
    (directory / "system.j2").write_text("You write signal cards, tersely.", encoding="utf-8")
    prompts = Prompts(directory)
    assert prompts.render("system.j2") == "You write signal cards, tersely."  # the templates reload
    assert prompts.version != before


@pytest.mark.parametrize(
    "body", ["{{ article.text }} {{ not_defined }}", "{{ article.text }} {{ article.nope }}"]
)
def test_undefined_variable_fails_loudly(tmp_path: Path, body: str) -> None:
    directory = _copy_prompts(tmp_path / "p")
    (directory / "user.j2").write_text(body, encoding="utf-8")
    with pytest.raises(jinja2.exceptions.UndefinedError):
        Prompts(directory).messages(ARTICLE, "keywords", DEFAULT_LIMITS, None)


def test_templates_are_sandboxed(tmp_path: Path) -> None:
    directory = _copy_prompts(tmp_path / "p")
    (directory / "user.j2").write_text(
        "{{ article.__class__.__init__.__globals__ }}", encoding="utf-8"
    )
    with pytest.raises(jinja2.exceptions.SecurityError):
        Prompts(directory).messages(ARTICLE, "keywords", DEFAULT_LIMITS, None)


def test_reask_lists_every_error() -> None:
    text = Prompts().reask(["keywords: needs at least 5 keywords, got 2", "missing key 'title'"])
    lines = text.splitlines()
    assert lines[0] == "That answer could not be used:"
    assert "- keywords: needs at least 5 keywords, got 2" in lines
    assert "- missing key 'title'" in lines
    assert lines[-1] == "Answer again with one corrected JSON object only."
