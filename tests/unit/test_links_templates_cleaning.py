"""Pure rules of short links, templates and number cleaning."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from todoke.domain import links, templates
from todoke.domain.cleaning import (
    Cleaning,
    NumberEvent,
    NumberEventKind,
    check_reference,
    judge,
    parse_row,
)
from todoke.errors import InvalidInput

NAMES = st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,8}", fullmatch=True)
# Parameter values: anything but braces and NUL (which the renderer refuses, tested below).
PLAIN = st.text(alphabet=st.characters(blacklist_characters="{}\x00"), max_size=40)


@given(
    st.dictionaries(
        NAMES, st.from_regex(r"https://e\.jp/[a-z]{1,5}", fullmatch=True), min_size=1, max_size=4
    ),
    PLAIN,
)
def test_render_placeholders_puts_every_url_in(values: dict[str, str], filler: str) -> None:
    text = filler.join("{" + name + "}" for name in values) + filler
    rendered = links.render_placeholders(text, values)
    assert rendered == filler.join(values.values()) + filler


@given(PLAIN)
def test_braces_that_name_no_link_stay(text: str) -> None:
    original = text + "{OTHER} {URL"
    assert links.render_placeholders(original + "{URL}", {"URL": "u"}) == original + "u"


def test_missing_placeholder_is_refused() -> None:
    with pytest.raises(InvalidInput) as err:
        links.render_placeholders("no link here", {"URL2": "x"})
    assert err.value.field == "links.URL2"


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "ftp://e.com",
        "https://",
        "/relative",
        "https://e.com/a b",
        "",
        "https://e.com/" + "a" * 2048,
    ],
)
def test_long_url_refusals(url: str) -> None:
    with pytest.raises(InvalidInput):
        links.check_long_url(url)


def test_codes_and_hashes() -> None:
    code = links.new_code()
    assert len(code) == links.CODE_LENGTH and links.is_code(code)
    assert not links.is_code("ab/c") and not links.is_code("")
    assert links.access_code_hash("L1", "1234") != links.access_code_hash("L2", "1234")
    assert links.check_domain("Go.Example.JP.") == "go.example.jp"
    with pytest.raises(InvalidInput):
        links.check_domain("not a host")


@given(st.dictionaries(st.from_regex(r"[a-zぁ-ん]{1,6}", fullmatch=True), PLAIN, max_size=4), PLAIN)
def test_template_round_trip(params: dict[str, str], filler: str) -> None:
    content = filler + "".join("{{" + n + "}}" + filler for n in params) or "x"
    if not content.strip():
        content = "x" + content
    assert templates.parameters(content) == list(params)
    rendered = templates.render(content, params)
    assert "{{" not in rendered or "{{" in filler
    for value in params.values():
        assert value in rendered


def test_template_render_refusals() -> None:
    with pytest.raises(InvalidInput) as err:
        templates.render("{{a}} {{b}}", {"a": "1"})
    assert err.value.field == "templateParams.b"
    with pytest.raises(InvalidInput) as err:
        templates.render("{{a}}", {"a": "1", "c": "2"})
    assert err.value.code == "unknown_parameter"
    with pytest.raises(InvalidInput):
        templates.check("t", "{{ has space }}")
    with pytest.raises(InvalidInput) as err:
        templates.render("{{a}}", {"a": "x\x00y"})
    assert err.value.field == "templateParams.a"
    # A parameter value is not itself rendered again.
    assert templates.render("{{a}}", {"a": "{{a}}"}) == "{{a}}"


def ev(kind: str, day: int) -> NumberEvent:
    return NumberEvent("+819012345678", NumberEventKind(kind), day)


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        ([], Cleaning.UNKNOWN),
        ([ev("contracted", 20220101)], Cleaning.SAME),
        ([ev("contracted", 20230102)], Cleaning.CHANGED),  # contract began after R
        ([ev("contracted", 20200101), ev("deactivated", 20230601)], Cleaning.CHANGED),
        ([ev("contracted", 20200101), ev("deactivated", 20220601)], Cleaning.CHANGED),
        (
            [ev("contracted", 20200101), ev("deactivated", 20220601), ev("contracted", 20220601)],
            Cleaning.SAME,
        ),
        ([ev("contracted", 20230101)], Cleaning.SAME),  # on R itself: the holder of R
    ],
)
def test_cleaning_judgement(events: list[NumberEvent], expected: Cleaning) -> None:
    assert judge(events, date(2023, 1, 1)) is expected


def test_reference_window() -> None:
    today = date(2024, 2, 29)
    assert check_reference(date(2022, 2, 28), today) == date(2022, 2, 28)
    with pytest.raises(InvalidInput):
        check_reference(date(2022, 2, 27), today)
    with pytest.raises(InvalidInput):
        check_reference(date(2024, 3, 1), today)


def test_parse_row() -> None:
    assert parse_row(["090-1234-5678", "Contracted", "2024-01-31"]) == NumberEvent(
        "+819012345678", NumberEventKind.CONTRACTED, 20240131
    )
    for bad in (
        ["090", "contracted", "2024-01-01"],
        ["09012345678", "x", "2024-01-01"],
        ["09012345678", "contracted", "2024/01/01"],
        ["09012345678"],
    ):
        with pytest.raises(InvalidInput):
            parse_row(bad)


def test_to_uri() -> None:
    assert links.to_uri("https://e.com/a?b=c%20d") == "https://e.com/a?b=c%20d"
    assert links.to_uri("https://例え.jp/セール?q=あ#上") == (
        "https://xn--r8jz45g.jp/%E3%82%BB%E3%83%BC%E3%83%AB?q=%E3%81%82#%E4%B8%8A"
    )
    assert links.to_uri("http://user:pw@例え.jp:8080/") == "http://user:pw@xn--r8jz45g.jp:8080/"


@given(st.text(min_size=1, max_size=30).filter(lambda t: "\x00" not in t))
def test_to_uri_is_ascii(path: str) -> None:
    url = "https://e.jp/" + path.replace(" ", "_")
    try:
        links.check_long_url(url)
    except InvalidInput:
        return
    assert links.to_uri(url).isascii()
