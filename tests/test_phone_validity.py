"""normalize's phone validity check and E.164 output agree with phonenumbers' on every number."""

from __future__ import annotations

import random

import phonenumbers
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pivotal_core.normalize import NormalizationError, _is_valid_number, normalize_phone

E164 = phonenumbers.PhoneNumberFormat.E164
NUMBER_TYPES = [
    getattr(phonenumbers.PhoneNumberType, name)
    for name in dir(phonenumbers.PhoneNumberType)
    if name.isupper()
]
CALLING_CODES = sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)
SHARED_CALLING_CODES = [
    code for code in CALLING_CODES if len(phonenumbers.COUNTRY_CODE_TO_REGION_CODE[code]) > 1
]
# Leading-zero flags as parse sets them, and combinations only a hand-built PhoneNumber has.
LEADING_ZEROS = [(None, None), (False, None), (True, None), (True, 0), (True, 1), (True, 2)]
LEADING_ZEROS += [(True, 3), (False, 2), (None, 1), (True, -1)]
DESC_NAMES = ["general_desc", "fixed_line", "mobile", "toll_free", "premium_rate", "shared_cost"]
DESC_NAMES += ["voip", "personal_number", "pager", "uan", "voicemail"]
FORMATS = [E164, phonenumbers.PhoneNumberFormat.INTERNATIONAL]
FORMATS += [phonenumbers.PhoneNumberFormat.NATIONAL, phonenumbers.PhoneNumberFormat.RFC3966]


def _example_numbers() -> list[phonenumbers.PhoneNumber]:
    numbers = [
        phonenumbers.example_number_for_type(region, kind)
        for region in sorted(phonenumbers.SUPPORTED_REGIONS)
        for kind in NUMBER_TYPES
    ]
    for code in sorted(phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS):
        numbers.append(phonenumbers.example_number_for_non_geo_entity(code))
        metadata = phonenumbers.PhoneMetadata.metadata_for_nongeo_region(code)
        for name in DESC_NAMES:
            desc = getattr(metadata, name)
            if desc is not None and desc.example_number:
                numbers.append(phonenumbers.parse(f"+{code}{desc.example_number}"))
    return [number for number in numbers if number is not None]


EXAMPLES = _example_numbers()


def _number(code: int | None, digits: str, zeros: tuple[bool | None, int | None] | None = None):
    """A PhoneNumber for ``digits``; leading zeros recorded as parse does unless ``zeros``."""
    number = phonenumbers.PhoneNumber(country_code=code, national_number=int(digits))
    if zeros is None:
        if len(digits) > 1 and digits[0] == "0":
            leading = len(digits) - len(digits.lstrip("0"))
            leading = min(leading, len(digits) - 1)  # an all-zero number keeps its last zero
            number.italian_leading_zero = True
            number.number_of_leading_zeros = None if leading == 1 else leading
    else:
        number.italian_leading_zero, number.number_of_leading_zeros = zeros
    return number


def _mutations(rng: random.Random, digits: str) -> list[str]:
    """``digits`` with one digit changed, one added and one removed, at random places."""
    changed = rng.randrange(len(digits))
    added = rng.randrange(len(digits) + 1)
    removed = rng.randrange(len(digits))
    out = [
        digits[:changed] + rng.choice("0123456789") + digits[changed + 1 :],
        digits[:added] + rng.choice("0123456789") + digits[added:],
    ]
    if len(digits) > 1:
        out.append(digits[:removed] + digits[removed + 1 :])
    return out


def _disagreements(numbers: list[phonenumbers.PhoneNumber]) -> tuple[list[str], int]:
    """Numbers where the two checks differ (as text), and how many phonenumbers finds valid."""
    # phonenumbers compiles every pattern on each use, relying on re's cache of 512 patterns:
    # checking the numbers one calling code at a time keeps that cache warm and the test fast.
    numbers = sorted(numbers, key=lambda number: number.country_code or 0)
    wrong, valid = [], 0
    for number in numbers:
        expected = phonenumbers.is_valid_number(number)
        valid += expected
        if _is_valid_number(number) != expected:
            wrong.append(repr(number))
    return wrong, valid


def test_example_number_of_every_type_and_region():
    wrong, valid = _disagreements(EXAMPLES)
    assert wrong == []
    assert len(EXAMPLES) > 1000
    assert valid > 0.9 * len(EXAMPLES)


def test_example_numbers_with_leading_zero_flags():
    numbers = []
    for example in EXAMPLES:
        digits = str(example.national_number)
        for zeros in LEADING_ZEROS:
            numbers.append(_number(example.country_code, digits, zeros))
    wrong, valid = _disagreements(numbers)
    assert wrong == []
    assert valid > 1000


def test_random_numbers_of_every_calling_code():
    rng = random.Random(5551234)
    numbers = []
    for _ in range(60_000):
        code = rng.choice(SHARED_CALLING_CODES if rng.random() < 0.3 else CALLING_CODES)
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(4, 17)))
        zeros = rng.choice(LEADING_ZEROS) if rng.random() < 0.2 else None
        numbers.append(_number(code, digits, zeros))
    for code in (None, 0, 999, 10_000):  # no region has these calling codes
        numbers.append(_number(code, "2025550123"))
    wrong, valid = _disagreements(numbers)
    assert wrong == []
    assert valid > 100


def test_mutated_example_numbers():
    rng = random.Random(8675309)
    numbers = []
    while len(numbers) < 60_000:
        example = rng.choice(EXAMPLES)
        nsn = phonenumbers.national_significant_number(example)
        for digits in _mutations(rng, nsn):
            zeros = rng.choice(LEADING_ZEROS) if rng.random() < 0.2 else None
            numbers.append(_number(example.country_code, digits, zeros))
        # The same digits under a calling code shared with other regions.
        code = rng.choice(SHARED_CALLING_CODES)
        numbers.append(_number(code, rng.choice(_mutations(rng, nsn))))
    wrong, valid = _disagreements(numbers)
    assert wrong == []
    assert valid > 0.1 * len(numbers)


PARSE_REGIONS = ["US", "CA", "JM", "GB", "JE", "DE", "FR", "IT", "RU", "BR", "IN", "JP", "AU"]


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.text("0123456789", min_size=1, max_size=19),
    st.sampled_from(["", "+", "0", "00", "011"]),
    st.sampled_from(PARSE_REGIONS),
)
def test_prop_parsed_digits_agree(digits, prefix, region):
    try:
        number = phonenumbers.parse(prefix + digits, region)
    except phonenumbers.NumberParseException:
        return
    assert _is_valid_number(number) == phonenumbers.is_valid_number(number)


# ---------------------------------------------------------------------------
# normalize_phone against the same steps done with phonenumbers alone
# ---------------------------------------------------------------------------


def _plain_normalize_phone(value: str, region: str | None) -> str:
    """normalize_phone's steps with phonenumbers' is_valid_number and format_number."""
    text = " ".join(value.split())
    if text[:4].lower() == "tel:":
        text = text[4:].lstrip()
    head = text.lstrip("( ")
    if head.startswith("00"):
        text = "+" + head[2:]
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return "invalid"
    if not phonenumbers.is_valid_number(number):
        return "invalid"
    return phonenumbers.format_number(number, E164)


def _outcome(value: str, region: str | None) -> str:
    try:
        return normalize_phone(value, default_region=region)
    except NormalizationError as error:
        assert error.message == "is not a valid phone number"
        return "invalid"


def _messy_phone(rng: random.Random) -> tuple[str, str | None]:
    example = rng.choice(EXAMPLES)
    region = phonenumbers.region_code_for_number(example)
    if rng.random() < 0.3:
        nsn = rng.choice(_mutations(rng, phonenumbers.national_significant_number(example)))
        example = _number(example.country_code, nsn)
    text = phonenumbers.format_number(example, rng.choice(FORMATS))
    if rng.random() < 0.3:
        text = text.replace(" ", rng.choice([".", "-", "  ", " . ", "\t"]))
    if rng.random() < 0.2:
        first, _, rest = text.partition(" ")
        text = f"({first}) {rest}"
    if text.startswith("+") and rng.random() < 0.3:
        text = rng.choice(["00", "( 00", "011 ", "+00"]) + text[1:]
    if rng.random() < 0.15:
        text += rng.choice([" ext. 123", " x45", ";ext=9", " #7", " extension 2"])
    if rng.random() < 0.1:
        text = rng.choice(["tel:", "TEL: ", "Tel ", "phone: "]) + text
    if rng.random() < 0.05:
        text = rng.choice(["n/a", "+", "12", "call me", "+1 555", "00", "0049", "()"])
    return f"  {text} ", rng.choice([region, region, "US", "GB", "DE", None])


def test_normalize_phone_matches_phonenumbers_on_messy_input():
    rng = random.Random(20250101)
    cases = [_messy_phone(rng) for _ in range(4000)]
    outcomes = [
        (_outcome(text, region), _plain_normalize_phone(text, region)) for text, region in cases
    ]
    wrong = [case for case, (got, expected) in zip(cases, outcomes, strict=True) if got != expected]
    assert wrong == []
    invalid = sum(got == "invalid" for got, _ in outcomes)
    assert 400 < invalid < 3600  # both outcomes are well represented


# Calling code 1 regions (each with its own metadata, some with rules for local numbers),
# others, and none.
NANP_REGIONS = sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE[1]) + ["GB", "DE", "IN", None]


@st.composite
def north_american_texts(draw):
    """Ten digits (any first digits, so the shortcut is both taken and refused) in the
    layouts people write, with or without "+1", "1", "001" or a wrong prefix in front."""
    area = draw(st.from_regex(r"[0-9]{3}", fullmatch=True))
    exchange = draw(st.from_regex(r"[0-9]{3}", fullmatch=True))
    line = draw(st.from_regex(r"[0-9]{4}", fullmatch=True))
    sep = st.sampled_from(["", " ", "-", "."])
    area_text = f"({area})" if draw(st.booleans()) else area
    body = f"{area_text}{draw(sep)}{exchange}{draw(sep)}{line}"
    head = draw(st.sampled_from(["", "+1", "1", "001", "+", "+2", "11", "( 001"]))
    return f"{head}{draw(sep) if head else ''}{body}"


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(north_american_texts(), st.sampled_from(NANP_REGIONS))
def test_prop_north_american_shortcut_agrees_with_phonenumbers(text, region):
    """normalize_phone reads plainly written North American numbers without parsing them:
    the number it reads is the parser's, and so are its validity and E.164."""
    from pivotal_core.normalize import _nanp_number

    assert _outcome(text, region) == _plain_normalize_phone(text, region)
    plain = "+" + text[2:] if text.startswith("00") else text
    shortcut = _nanp_number(plain, region)
    if shortcut is not None:
        parsed = phonenumbers.parse(plain, region)
        assert (parsed.country_code, parsed.national_number) == (1, shortcut.national_number)
        assert not parsed.italian_leading_zero and not parsed.extension


def test_north_american_shortcut_is_taken_for_the_usual_layouts_only():
    from pivotal_core.normalize import _nanp_number

    taken = ["(415) 555-0123", "415.555.0123", "+1 415 555 0123", "1-415-555-0123",
             "+14155550123", "4155550123", "(415)555-0123", "1 (415) 555-0123"]  # fmt: skip
    for text in taken:
        number = _nanp_number(text, "US")
        assert number is not None and number.national_number == 4155550123, text
    refused = [("415-555-0123 x12", "US"), ("(415) 555-0123", "GB"), ("1-415-555-0123", None),
               ("+44 20 7946 0958", "US"), ("(015) 555-0123", "US"), ("415-155-0123", "US"),
               ("４１５５５５０１２３", "US")]  # fmt: skip
    for text, region in refused:
        assert _nanp_number(text, region) is None, (text, region)
    assert _nanp_number("+1 415 555 0123", "GB") is not None, "with +1 the region is moot"
