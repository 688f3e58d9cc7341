"""MediaSMS drafts for the shared composer: templates by number, link targets, the text rules
checked with sample URLs, and the link/template services' refusals in MediaSMS codes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from todoke.api.compat.mediasms import codes
from todoke.api.compat.mediasms.drafts import draft_of, link_targets, template_body, text_rule
from todoke.api.compat.mediasms.params import LinkSpec
from todoke.domain import links as link_rules
from todoke.domain.carrier import Carrier
from todoke.errors import InvalidInput
from todoke.services.messages import SendRequest
from todoke.services.templates import Template

SAMPLE = "https://sms.example.jp/s/xxxxxxx"


def _template(content: str) -> Template:
    return Template("01J", 1, "t", content, 0, 0, number=5)


def test_template_body() -> None:
    assert template_body(_template("ご案内 {URL} {info1}"), 5) == "ご案内 {URL} {info1}"
    for found in (None, _template("{{name}}様")):
        with pytest.raises(InvalidInput) as refused:
            template_body(found, 5)
        assert codes.code_for(refused.value) == codes.TEXT_ID


def test_link_targets_only_for_placeholders_in_the_text() -> None:
    specs = [
        LinkSpec("", "https://a.jp/", "c0de"),
        LinkSpec("2", "https://b.jp/", None),
        LinkSpec("3", "https://c.jp/", None),
    ]
    targets = link_targets(specs, "{URL} and {URL3}")
    assert set(targets) == {"URL", "URL3"}
    assert (targets["URL"].long_url, targets["URL"].access_code) == ("https://a.jp/", "c0de")


def test_draft_of_checks_the_text_with_its_urls() -> None:
    rule = text_rule(long_message=False, carrier=Carrier.DOCOMO)
    spec = [LinkSpec("", "https://a.jp/", None)]
    plain = draft_of(SendRequest(to="+819012345678", text="x"), spec, rule=rule, sample_url=SAMPLE)
    assert plain.plain  # no {URL}: the text is final, checked here, sent as it is
    room = 140 - len(SAMPLE)
    fits = draft_of(
        SendRequest(to="+819012345678", text="a" * room + "{URL}"),
        spec,
        rule=rule,
        sample_url=SAMPLE,
    )
    assert fits.links is not None and fits.check is rule  # checked again on the real text
    with pytest.raises(InvalidInput) as refused:
        draft_of(
            SendRequest(to="+819012345678", text="a" * (room + 1) + "{URL}"),
            spec,
            rule=rule,
            sample_url=SAMPLE,
        )
    assert codes.code_for(refused.value) == codes.SMS_TEXT


@pytest.mark.parametrize(
    ("field", "code", "expected"),
    [
        ("links.URL", "invalid_url", codes.ORIGINAL_URL),
        ("links.URL2", "too_long", codes.ORIGINAL_URL_2),
        ("links.URL4", "invalid_url", codes.ORIGINAL_URL_4),
        ("links.URL3", "invalid_access_code", codes.ORIGINAL_URL_CODE_3),
        ("links.URL", "invalid_access_code", codes.ORIGINAL_URL_CODE),
        ("links.OTHER", "invalid_url", codes.FAILURE),
        ("templateId", "unknown_template", codes.TEXT_ID),
        ("templateParams.name", "missing_parameter", codes.TEXT_ID),
    ],
)
def test_shared_service_refusals_become_codes(field: str, code: str, expected: int) -> None:
    assert codes.code_for(InvalidInput("x", field=field, code=code)) == expected


def _outcome(text: str) -> bool:
    try:
        text_rule(long_message=False, carrier=Carrier.SOFTBANK)(text)
    except InvalidInput:
        return False
    return True


@given(
    before=st.text(alphabet="aあｱ\n 1", max_size=140),
    after=st.text(alphabet="aあｱ\n 1", max_size=20),
)
def test_a_sample_url_judges_like_any_real_one(before: str, after: str) -> None:
    """The pre-check with a sample URL decides exactly as the check of the real text: codes
    have one length and one alphabet (ASCII letters and digits)."""
    text = before + "{URL}" + after
    real = link_rules.render_placeholders(text, {"URL": SAMPLE[:-7] + link_rules.new_code()})
    sample = link_rules.render_placeholders(text, {"URL": SAMPLE})
    assert _outcome(real) == _outcome(sample)


def test_codes_are_uniform_over_their_alphabet() -> None:
    drawn = [link_rules.new_code() for _ in range(2000)]
    assert all(len(c) == link_rules.CODE_LENGTH and link_rules.is_code(c) for c in drawn)
    assert len(set(drawn)) == len(drawn)
    seen = {ch for c in drawn for ch in c}
    assert seen == set(link_rules.CODE_ALPHABET)  # 14,000 draws reach all 62 characters
