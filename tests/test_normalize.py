"""Tests for pivotal_core.normalize: example-based cases plus hypothesis property tests."""

from __future__ import annotations

import phonenumbers
import pycountry
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.provisional import domains

from pivotal_core.normalize import (
    NormalizationError,
    company_match_key,
    email_domain,
    host_of,
    normalize_company_name,
    normalize_country,
    normalize_domain,
    normalize_email,
    normalize_linkedin_url,
    normalize_name,
    normalize_phone,
    normalize_tags,
    normalize_text,
)

NBSP = "\xa0"
BLANKS = [None, "", " ", "   ", "\t", "\n", NBSP, f" {NBSP}\t\r\n ", "\u200b", "\ufeff ", "\u3000"]

# The public suffix list is parsed on first use; keep that out of hypothesis' deadline.
PROPERTY = settings(deadline=None, max_examples=300, suppress_health_check=[HealthCheck.too_slow])


# ---------------------------------------------------------------------------
# NormalizationError
# ---------------------------------------------------------------------------


def test_normalization_error_is_value_error_with_message():
    error = NormalizationError("is not a valid email address")
    assert isinstance(error, ValueError)
    assert error.message == "is not a valid email address"
    assert str(error) == "is not a valid email address"


def test_error_messages_do_not_name_the_field():
    with pytest.raises(NormalizationError) as info:
        normalize_email("nope")
    assert info.value.message == "is not a valid email address"
    assert "email:" not in str(info.value).lower()


@pytest.mark.parametrize(
    "func",
    [
        normalize_email,
        normalize_domain,
        host_of,
        normalize_name,
        normalize_company_name,
        company_match_key,
        normalize_phone,
        normalize_country,
        normalize_text,
        normalize_linkedin_url,
    ],
)
@pytest.mark.parametrize("blank", BLANKS)
def test_blank_values_become_none(func, blank):
    assert func(blank) is None


@pytest.mark.parametrize(
    "func",
    [
        normalize_email,
        normalize_domain,
        host_of,
        normalize_name,
        normalize_company_name,
        normalize_country,
        normalize_text,
        normalize_linkedin_url,
    ],
)
@pytest.mark.parametrize("value", [42, 3.5, b"bytes", ["a"], {"a": 1}])
def test_non_string_values_raise_normalization_error(func, value):
    with pytest.raises(NormalizationError, match="must be a string"):
        func(value)


# ---------------------------------------------------------------------------
# Email
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("user@example.com", "user@example.com"),
        ("User@Example.COM", "user@example.com"),
        ("Jane.Doe+crm@Sub.Example.co.uk", "jane.doe+crm@sub.example.co.uk"),
        ("  jane@example.com  ", "jane@example.com"),
        (f"{NBSP}jane@example.com{NBSP}", "jane@example.com"),
        ("\tjane@example.com\n", "jane@example.com"),
        ("\u200bjane@example.com\ufeff", "jane@example.com"),
        ("<jane@example.com>", "jane@example.com"),
        ("< jane@example.com >", "jane@example.com"),
        ("Jane Doe <Jane@Example.com>", "jane@example.com"),
        ('"Doe, Jane" <jane@example.com>', "jane@example.com"),
        ("mailto:jane@example.com", "jane@example.com"),
        ("MAILTO:Jane@Example.com", "jane@example.com"),
        ("mailto:jane@example.com?subject=Hello", "jane@example.com"),
        ("<mailto:jane@example.com>", "jane@example.com"),
        ("user@Bücher.DE", "user@xn--bcher-kva.de"),
        ("user@xn--bcher-kva.de", "user@xn--bcher-kva.de"),
        ("user@ｅｘａｍｐｌｅ．ｃｏｍ", "user@example.com"),  # full-width forms (UTS 46 mapping)
        ("José@Example.com", "josé@example.com"),
        ("Jose\u0301@example.com", "josé@example.com"),  # decomposed accent -> NFC
        ("o'brien@example.ie", "o'brien@example.ie"),
        ("a!#$%&'*+/=?^_`{|}~-z@example.com", "a!#$%&'*+/=?^_`{|}~-z@example.com"),
        ("first.middle.last@example.com", "first.middle.last@example.com"),
        ("x@a-b.example", "x@a-b.example"),
        ("x@example.museum", "x@example.museum"),
        ("x@123.example.com", "x@123.example.com"),
    ],
)
def test_normalize_email_good(raw, expected):
    assert normalize_email(raw) == expected


LONG_LOCAL = "a" * 64
LONG_DOMAIN_189 = f"{'b' * 63}.{'c' * 63}.{'d' * 57}.com"  # 189 chars: 64 + 1 + 189 == 254


@pytest.mark.parametrize(
    "raw",
    [
        "a@b",
        "no-at-sign",
        "a@@b.com",
        "a@b@c.com",
        "a b@c.com",
        "a@b .com",
        "a@-b.com",
        "a@b-.com",
        "a@b..com",
        "a@.b.com",
        "a@b.com.",
        "a@b.c",
        "a@b.123",
        "@example.com",
        "user@",
        "@",
        ".user@example.com",
        "user.@example.com",
        "us..er@example.com",
        '"quoted"@example.com',
        "a(comment)@example.com",
        "a,b@example.com",
        "a[b]@example.com",
        "a\\b@example.com",
        "user@[192.168.0.1]",
        "user@192.168.0.1",
        "user@localhost",
        "user@exa_mple.com",
        "user@exa mple.com",
        "user@exämple.com\u0000",
        "user@☃☃☃.com\U0001f600",
        "jane doe <>",
        "mailto:",
        f"{'a' * 65}@example.com",
        f"{LONG_LOCAL}@{LONG_DOMAIN_189.replace('.com', 'd.com')}",
        f"user@{'a' * 64}.com",
        "user@example.com x",
    ],
)
def test_normalize_email_bad(raw):
    with pytest.raises(NormalizationError) as info:
        normalize_email(raw)
    assert info.value.message == "is not a valid email address"


def test_normalize_email_length_limits():
    assert normalize_email(f"{LONG_LOCAL}@example.com") == f"{LONG_LOCAL}@example.com"
    at_limit = f"{LONG_LOCAL}@{LONG_DOMAIN_189}"
    assert len(at_limit) == 254
    assert normalize_email(at_limit) == at_limit
    over = f"{LONG_LOCAL}@{'b' * 63}.{'c' * 63}.{'d' * 58}.com"
    assert len(over) == 255
    with pytest.raises(NormalizationError):
        normalize_email(over)


def test_normalize_email_counts_octets_for_unicode_local_part():
    # 32 two-byte characters = 64 octets is allowed, 33 is not.
    assert normalize_email("é" * 32 + "@example.com") == "é" * 32 + "@example.com"
    with pytest.raises(NormalizationError):
        normalize_email("é" * 33 + "@example.com")


@pytest.mark.parametrize(
    ("email", "domain"),
    [
        ("jane@example.com", "example.com"),
        ("jane@sub.example.co.uk", "sub.example.co.uk"),
        ("user@xn--bcher-kva.de", "xn--bcher-kva.de"),
    ],
)
def test_email_domain(email, domain):
    assert email_domain(email) == domain
    assert email_domain(normalize_email(email)) == domain


@pytest.mark.parametrize("bad", ["no-at-sign", "@example.com", "user@"])
def test_email_domain_rejects_non_email(bad):
    with pytest.raises(NormalizationError):
        email_domain(bad)


# ---------------------------------------------------------------------------
# Domains and hosts
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("example.com", "example.com"),
        ("HTTPS://www.Example.COM:8080/path?q=1#x", "example.com"),
        ("http://example.com", "example.com"),
        ("www.example.com", "example.com"),
        ("example.com.", "example.com"),
        (" Example.com ", "example.com"),
        (f"{NBSP}example.com\t", "example.com"),
        ("//example.com/", "example.com"),
        ("example.com/about-us", "example.com"),
        ("example.com?ref=x", "example.com"),
        ("example.com#top", "example.com"),
        ("example.com:443", "example.com"),
        ("user@example.com", "example.com"),
        ("mailto:user@Example.com", "example.com"),
        ("https://user:secret@www.example.com/", "example.com"),
        ("ftp://files.example.org/pub", "example.org"),
        ("shop.example.co.uk", "example.co.uk"),
        ("a.b.c.example.com", "example.com"),
        ("blog.example.com.au", "example.com.au"),
        ("foo.github.io", "foo.github.io"),
        ("www.foo.github.io", "foo.github.io"),
        ("github.io", "github.io"),
        ("github.com", "github.com"),
        ("bücher.de", "xn--bcher-kva.de"),
        ("https://www.Bücher.de/katalog", "xn--bcher-kva.de"),
        ("xn--bcher-kva.de", "xn--bcher-kva.de"),
        ("例え.jp", "xn--r8jz45g.jp"),
        ("пример.рф", "xn--e1afmkfd.xn--p1ai"),
        ("ｅｘａｍｐｌｅ．ｃｏｍ", "example.com"),
        ("www.com", "www.com"),
        ("3m.com", "3m.com"),
        ("my-company.io", "my-company.io"),
        (f"{'a' * 63}.com", f"{'a' * 63}.com"),
        ("example.unknowntld", "example.unknowntld"),
    ],
)
def test_normalize_domain_good(raw, expected):
    assert normalize_domain(raw) == expected


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("1.2.3.4", "not an IP address"),
        ("http://192.168.0.1:8080/admin", "not an IP address"),
        ("[::1]", "not an IP address"),
        ("http://[2001:db8::1]/", "not an IP address"),
        ("2001:db8::1", "not an IP address"),
        ("localhost", "not a valid domain"),
        ("http://localhost:8000", "not a valid domain"),
        ("app.localhost", "not a valid domain"),
        ("intranet", "not a valid domain"),
        ("co.uk", "public suffix"),
        ("com", "not a valid domain"),
        ("com.au", "public suffix"),
        ("exa_mple.com", "not a valid domain"),
        ("exa mple.com", "not a valid domain"),
        ("ex!ample.com", "not a valid domain"),
        ("-example.com", "not a valid domain"),
        ("example-.com", "not a valid domain"),
        ("a..com", "not a valid domain"),
        (".example.com", "not a valid domain"),
        ("example.com..", "not a valid domain"),
        ("example.c", "not a valid domain"),
        ("example.c0m", "not a valid domain"),
        (f"{'a' * 64}.com", "not a valid domain"),
        ("xn--zz.com", "not a valid domain"),
        ("☃.com\U0001f600", "not a valid domain"),
        ("example.com:abc", "not a valid domain"),
        ("https://", "not a valid domain"),
        ("user@", "not a valid domain"),
        ("/path/only", "not a valid domain"),
    ],
)
def test_normalize_domain_bad(raw, message):
    with pytest.raises(NormalizationError, match=message):
        normalize_domain(raw)


def test_domain_total_length_limit():
    at_limit = f"{'a' * 63}.{'b' * 63}.{'c' * 63}.{'d' * 57}.com"
    assert len(at_limit) == 253
    assert host_of(at_limit) == at_limit
    assert normalize_domain(at_limit) == f"{'d' * 57}.com"
    over = f"{'a' * 63}.{'b' * 63}.{'c' * 63}.{'d' * 58}.com"
    for func in (host_of, normalize_domain):
        with pytest.raises(NormalizationError):
            func(over)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("HTTPS://www.Shop.Example.co.uk:8080/path", "shop.example.co.uk"),
        ("www.example.com", "example.com"),
        ("app.eu.example.com.", "app.eu.example.com"),
        ("user@mail.Example.org", "mail.example.org"),
        ("www.foo.github.io", "foo.github.io"),
        ("www.com", "www.com"),
        ("www.co.uk", "www.co.uk"),
        ("Bücher.de/x", "xn--bcher-kva.de"),
        ("www2.example.com", "www2.example.com"),
    ],
)
def test_host_of(raw, expected):
    assert host_of(raw) == expected


@pytest.mark.parametrize("raw", ["co.uk", "localhost", "10.0.0.1", "bad_host.com"])
def test_host_of_rejects_invalid_hosts(raw):
    with pytest.raises(NormalizationError):
        host_of(raw)


def test_normalize_domain_errors_are_not_cached_as_results():
    for _ in range(2):
        with pytest.raises(NormalizationError):
            normalize_domain("co.uk")


# ---------------------------------------------------------------------------
# Person names
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("john", "John"),
        ("JOHN", "John"),
        ("  john   smith ", "John Smith"),
        (f"JOHN{NBSP}SMITH", "John Smith"),
        ("john\tsmith\n", "John Smith"),
        ("mcdonald", "McDonald"),
        ("MCDONALD", "McDonald"),
        ("MACDONALD", "MacDonald"),
        ("macarthur", "MacArthur"),
        ("MACK", "Mack"),
        ("MACY", "Macy"),
        ("MACE", "Mace"),
        ("MACHIN", "Machin"),
        ("MACON", "Macon"),
        ("MACHADO", "Machado"),
        ("macias", "Macias"),
        ("o'brien", "O'Brien"),
        ("O'BRIEN", "O'Brien"),
        ("o\u2019brien", "O\u2019Brien"),
        ("D'ANGELO", "D'Angelo"),
        ("jean-luc", "Jean-Luc"),
        ("MARY-KATE O'NEIL", "Mary-Kate O'Neil"),
        ("smith-mcdonald", "Smith-McDonald"),
        ("VAN DER BERG", "van der Berg"),
        ("DE LA CRUZ", "de la Cruz"),
        ("ludwig van beethoven", "Ludwig van Beethoven"),
        ("LEONARDO DA VINCI", "Leonardo da Vinci"),
        ("MOHAMMED BIN SALMAN", "Mohammed bin Salman"),
        ("DA SILVA", "Da Silva"),
        ("VAN", "Van"),
        ("de la", "De La"),
        ("JOHN SMITH III", "John Smith III"),
        ("ÉMILE ZOLA", "Émile Zola"),
        ("élodie", "Élodie"),
        ("ŁUKASZ", "Łukasz"),
        ("ΣΩΚΡΆΤΗΣ", "Σωκράτης"),
        ("Jose\u0301", "José"),
        # Mixed case is the person's own spelling: kept, only whitespace fixed.
        ("McDonald", "McDonald"),
        ("Macdonald", "Macdonald"),
        ("van der Berg", "van der Berg"),
        ("DeShawn", "DeShawn"),
        ("iPhone", "iPhone"),
        ("  DeShawn   Jones ", "DeShawn Jones"),
        ("da Silva", "da Silva"),
        # Names without cased letters are left alone.
        ("李小龍", "李小龍"),
        ("Ngũgĩ", "Ngũgĩ"),
    ],
)
def test_normalize_name(raw, expected):
    assert normalize_name(raw) == expected


# ---------------------------------------------------------------------------
# Company names
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Acme", "Acme"),
        ("  ACME   Corp  ", "ACME Corp"),
        (f"acme{NBSP}inc.", "acme inc."),
        ("Acme\tWidgets\nLtd", "Acme Widgets Ltd"),
        ("eBay Inc.", "eBay Inc."),
        ("Société Générale", "Société Générale"),
    ],
)
def test_normalize_company_name(raw, expected):
    assert normalize_company_name(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Acme, Inc.", "acme"),
        ("ACME INC", "acme"),
        ("Acme Inc", "acme"),
        ("Acme LLC", "acme"),
        ("Acme Ltd.", "acme"),
        ("Acme Limited", "acme"),
        ("Acme GmbH", "acme"),
        ("Acme AG", "acme"),
        ("Acme S.A.", "acme"),
        ("Acme SA", "acme"),
        ("Acme plc", "acme"),
        ("Acme Corp.", "acme"),
        ("Acme Corporation", "acme"),
        ("Acme Co.", "acme"),
        ("Acme Company", "acme"),
        ("Acme B.V.", "acme"),
        ("Acme BV", "acme"),
        ("Acme S.r.l.", "acme"),
        ("Acme Oy", "acme"),
        ("Acme AB", "acme"),
        ("Acme AS", "acme"),
        ("Acme Pty Ltd", "acme"),
        ("Acme Pte. Ltd.", "acme"),
        ("Acme GmbH & Co. KG", "acme"),
        ("The Acme Company", "acme"),
        ("Smith & Co.", "smith"),
        ("Johnson & Johnson", "johnson and johnson"),
        ("Johnson and Johnson Inc.", "johnson and johnson"),
        ("Société Générale S.A.", "societe generale"),
        ("Macy's, Inc.", "macys"),
        ("  Acme   Widgets,  Ltd ", "acme widgets"),
        ("Company", "company"),
        ("Inc.", "inc"),
        ("!!!", None),
    ],
)
def test_company_match_key(raw, expected):
    assert company_match_key(raw) == expected


def test_company_match_key_groups_variants():
    variants = ["Acme, Inc.", "ACME Inc", "acme", "Acme Incorporated", " Acme  LLC. "]
    assert {company_match_key(v) for v in variants} == {"acme"}


# ---------------------------------------------------------------------------
# Phone
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("+1 650-253-0000", "US", "+16502530000"),
        ("(650) 253-0000", "US", "+16502530000"),
        ("650.253.0000", "US", "+16502530000"),
        ("6502530000", "US", "+16502530000"),
        ("1-650-253-0000", "US", "+16502530000"),
        (f"{NBSP}(650)\t253-0000 ", "US", "+16502530000"),
        ("+1 650-253-0000 x123", "US", "+16502530000"),
        ("(650) 253-0000 ext. 123", "US", "+16502530000"),
        ("650-253-0000 extension 9", "US", "+16502530000"),
        ("tel:+1-650-253-0000", "US", "+16502530000"),
        ("tel:+1-650-253-0000;ext=123", "US", "+16502530000"),
        ("+44 20 7946 0958", "US", "+442079460958"),
        ("0044 20 7946 0958", "US", "+442079460958"),
        ("0044 20 7946 0958", "GB", "+442079460958"),
        ("020 7946 0958", "GB", "+442079460958"),
        ("020 7946 0958", "gb", "+442079460958"),
        ("+44 (0)20 7946 0958", "US", "+442079460958"),
        ("011 44 20 7946 0958", "US", "+442079460958"),
        ("+49 30 901820", "US", "+4930901820"),
        ("030 901820", "DE", "+4930901820"),
        ("+39 06 1234 5678", "US", "+390612345678"),  # Italian leading zero kept
        ("+16502530000", None, "+16502530000"),
        ("＋１ ６５０ ２５３ ００００", "US", "+16502530000"),  # full-width digits
        (6502530000, "US", "+16502530000"),
    ],
)
def test_normalize_phone_good(raw, region, expected):
    assert normalize_phone(raw, default_region=region) == expected


def test_normalize_phone_default_region_is_us():
    assert normalize_phone("(650) 253-0000") == "+16502530000"


@pytest.mark.parametrize(
    ("raw", "region"),
    [
        ("12345", "US"),
        ("555-1234", "US"),
        ("(555) 555-5555", "US"),  # 555 area code is not assigned
        ("+1 123 456 7890", "US"),
        ("+44 12", "US"),
        ("call me maybe", "US"),
        ("+", "US"),
        ("00", "US"),
        ("020 7946 0958", None),  # no region and no country code
        ("+999 1234 5678", "US"),
        ("1" * 30, "US"),
        (True, "US"),
    ],
)
def test_normalize_phone_bad(raw, region):
    with pytest.raises(NormalizationError) as info:
        normalize_phone(raw, default_region=region)
    assert info.value.message in {"is not a valid phone number", "must be a string"}


# ---------------------------------------------------------------------------
# Country
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("US", "US"),
        ("us", "US"),
        ("USA", "US"),
        ("usa", "US"),
        ("U.S.A.", "US"),
        ("U.S.", "US"),
        ("United States", "US"),
        ("united states of america", "US"),
        ("America", "US"),
        (f"{NBSP}United States\t", "US"),
        ("GB", "GB"),
        ("GBR", "GB"),
        ("UK", "GB"),
        ("U.K.", "GB"),
        ("United Kingdom", "GB"),
        ("Great Britain", "GB"),
        ("England", "GB"),
        ("Scotland", "GB"),
        ("Wales", "GB"),
        ("Northern Ireland", "GB"),
        ("Germany", "DE"),
        ("DEU", "DE"),
        ("Deutschland", "DE"),
        ("Holland", "NL"),
        ("The Netherlands", "NL"),
        ("Netherlands", "NL"),
        ("South Korea", "KR"),
        ("Korea", "KR"),
        ("Korea, Republic of", "KR"),
        ("Republic of Korea", "KR"),
        ("North Korea", "KP"),
        ("Russia", "RU"),
        ("Russian Federation", "RU"),
        ("Czechia", "CZ"),
        ("Czech Republic", "CZ"),
        ("Ivory Coast", "CI"),
        ("Côte d'Ivoire", "CI"),
        ("cote d\u2019ivoire", "CI"),
        ("Vietnam", "VN"),
        ("Viet Nam", "VN"),
        ("Iran", "IR"),
        ("Bolivia", "BO"),
        ("Taiwan", "TW"),
        ("Türkiye", "TR"),
        ("Turkey", "TR"),
        ("Congo", "CG"),
        ("Democratic Republic of the Congo", "CD"),
        ("St. Lucia", "LC"),
        ("Saint Lucia", "LC"),
        ("Bosnia & Herzegovina", "BA"),
        ("Trinidad and Tobago", "TT"),
        ("Holy See", "VA"),
        ("Åland Islands", "AX"),
        ("aland islands", "AX"),
        ("japan", "JP"),
        ("FRANCE", "FR"),
    ],
)
def test_normalize_country_good(raw, expected):
    assert normalize_country(raw) == expected


@pytest.mark.parametrize(
    "raw", ["Narnia", "XX", "ZZZ", "Europe", "U", "Virgin Islands", "840", "Atlantis!"]
)
def test_normalize_country_bad(raw):
    with pytest.raises(NormalizationError) as info:
        normalize_country(raw)
    assert info.value.message == "is not a known country"


def test_normalize_country_covers_every_pycountry_entry():
    for country in pycountry.countries:
        names = [country.alpha_2, country.alpha_3, country.name]
        names += [
            getattr(country, a) for a in ("official_name", "common_name") if hasattr(country, a)
        ]
        for name in names:
            assert normalize_country(name) == country.alpha_2, name
            assert normalize_country(name.upper()) == country.alpha_2, name


# ---------------------------------------------------------------------------
# Free text
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("hello", "hello"),
        ("  hello   world  ", "hello world"),
        ("line one\nline two", "line one line two"),
        ("tab\tseparated\r\nvalue", "tab separated value"),
        (f"non{NBSP}breaking", "non breaking"),
        ("bell\x07char", "bellchar"),
        ("nul\x00byte", "nulbyte"),
        ("zero\u200bwidth", "zerowidth"),
        ("rtl\u202eoverride", "rtloverride"),
        ("C1\x85next line", "C1 next line"),
        ("Cafe\u0301", "Café"),
        ("Keep CASE & punctuation!", "Keep CASE & punctuation!"),
        ("emoji 👍🏽 ok", "emoji 👍🏽 ok"),
    ],
)
def test_normalize_text(raw, expected):
    assert normalize_text(raw) == expected


def test_normalize_text_max_length():
    assert normalize_text("  abcde  ", max_length=5) == "abcde"
    with pytest.raises(NormalizationError) as info:
        normalize_text("abcdef", max_length=5)
    assert info.value.message == "must be at most 5 characters"
    assert normalize_text(" ", max_length=0) is None


# ---------------------------------------------------------------------------
# Tags
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, []),
        ("", []),
        ([], []),
        (" , ,, ", []),
        ("vip", ["vip"]),
        ("VIP, Partner , vip", ["partner", "vip"]),
        (" Foo, bar ,FOO,, baz  qux", ["bar", "baz qux", "foo"]),
        (["b", "A", "a", " c "], ["a", "b", "c"]),
        (["x,y", None, "", f"{NBSP}z\t"], ["x", "y", "z"]),
        (("Enterprise", "enterprise"), ["enterprise"]),
        (["Übersee", "übersee"], ["übersee"]),
        (["new\nlead"], ["new lead"]),
    ],
)
def test_normalize_tags(raw, expected):
    assert normalize_tags(raw) == expected


def test_normalize_tags_rejects_non_string_items():
    with pytest.raises(NormalizationError, match="list of strings"):
        normalize_tags(["ok", 3])


# ---------------------------------------------------------------------------
# LinkedIn
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("linkedin.com/in/Jane-Doe/", "https://www.linkedin.com/in/jane-doe"),
        ("http://uk.linkedin.com/in/jane-doe?trk=x", "https://www.linkedin.com/in/jane-doe"),
        ("https://www.linkedin.com/in/janedoe", "https://www.linkedin.com/in/janedoe"),
        ("HTTPS://WWW.LINKEDIN.COM/IN/JANEDOE/", "https://www.linkedin.com/in/janedoe"),
        (
            "www.linkedin.com/in/jane-doe-12345/details/",
            "https://www.linkedin.com/in/jane-doe-12345",
        ),
        ("m.linkedin.com/in/jane#about", "https://www.linkedin.com/in/jane"),
        (f"{NBSP}linkedin.com/in/jane\t", "https://www.linkedin.com/in/jane"),
        (
            "https://www.linkedin.com/company/Acme-Corp/",
            "https://www.linkedin.com/company/acme-corp",
        ),
        ("linkedin.com/company/acme/about/?x=1", "https://www.linkedin.com/company/acme"),
        ("https://de.linkedin.com/company/1035", "https://www.linkedin.com/company/1035"),
        (
            "https://www.linkedin.com/in/J%C3%A9r%C3%B4me",
            "https://www.linkedin.com/in/j%C3%A9r%C3%B4me",
        ),
        ("https://www.linkedin.com/in/jérôme", "https://www.linkedin.com/in/j%C3%A9r%C3%B4me"),
    ],
)
def test_normalize_linkedin_url_good(raw, expected):
    assert normalize_linkedin_url(raw) == expected
    assert normalize_linkedin_url(expected) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "https://example.com/in/jane",
        "https://linkedin.com.evil.com/in/jane",
        "https://notlinkedin.com/in/jane",
        "https://www.linkedin.com/",
        "https://www.linkedin.com/in/",
        "https://www.linkedin.com/pub/jane-doe/1/2/3",
        "https://www.linkedin.com/school/mit/",
        "https://www.linkedin.com/feed/",
        "ftp://www.linkedin.com/in/jane",
        "jane-doe",
        "https://www.linkedin.com/in/jane%20doe",
        "https://www.linkedin.com/in/jane doe",
    ],
)
def test_normalize_linkedin_url_bad(raw):
    with pytest.raises(NormalizationError):
        normalize_linkedin_url(raw)


# ---------------------------------------------------------------------------
# Property tests
# ---------------------------------------------------------------------------


def _outcome(func, *args):
    try:
        return ("ok", func(*args))
    except NormalizationError as exc:
        return ("error", exc.message)


@PROPERTY
@given(st.emails())
def test_prop_rfc_emails_are_accepted_and_idempotent(email):
    normalized = normalize_email(email)
    assert normalized == email.lower()
    assert normalize_email(normalized) == normalized
    assert normalize_email(f" <{normalized.upper()}> ") == normalized


@PROPERTY
@given(domains())
def test_prop_domain_idempotent_and_url_equivalent(domain):
    outcome = _outcome(normalize_domain, domain)
    assume(outcome[0] == "ok")
    normalized = outcome[1]
    assert normalize_domain(normalized) == normalized
    assert normalize_domain(f"https://www.{domain}/x") == normalized
    assert normalize_domain(f"HTTP://{domain.upper()}:8080/a/b?c=d#e") == normalized
    assert normalize_domain(f"someone@{domain}") == normalized
    host = host_of(domain)
    assert host_of(host) == host
    assert normalize_domain(host) == normalized
    assert host.endswith(normalized)


_EXAMPLE_PHONES = sorted(
    {
        (region, phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
        for region in phonenumbers.SUPPORTED_REGIONS
        for kind in (phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.MOBILE)
        if (number := phonenumbers.example_number_for_type(region, kind)) is not None
    }
)
_PHONE_FORMATS = [
    phonenumbers.PhoneNumberFormat.E164,
    phonenumbers.PhoneNumberFormat.INTERNATIONAL,
    phonenumbers.PhoneNumberFormat.NATIONAL,
    phonenumbers.PhoneNumberFormat.RFC3966,
]


@PROPERTY
@given(st.sampled_from(_EXAMPLE_PHONES), st.sampled_from(_PHONE_FORMATS))
def test_prop_phone_formats_round_trip_and_idempotent(example, fmt):
    region, e164 = example
    formatted = phonenumbers.format_number(phonenumbers.parse(e164), fmt)
    normalized = normalize_phone(formatted, default_region=region)
    assert normalized == e164
    assert normalize_phone(normalized) == normalized
    assert normalize_phone(normalized, default_region="JP") == normalized
    assert normalize_phone("00" + normalized[1:], default_region="FR") == normalized


_COUNTRY_INPUTS = sorted(
    {
        value
        for country in pycountry.countries
        for value in (
            country.alpha_2,
            country.alpha_3,
            country.name,
            getattr(country, "common_name", country.name),
        )
    }
    | {"USA", "U.K.", "England", "Holland", "Deutschland", "Korea", "Russia", "Ivory Coast"}
)


@PROPERTY
@given(
    st.sampled_from(_COUNTRY_INPUTS),
    st.sampled_from([str.lower, str.upper, str.title, str]),
    st.sampled_from(["", " ", NBSP, "\t"]),
)
def test_prop_country_idempotent(value, transform, pad):
    code = normalize_country(f"{pad}{transform(value)}{pad}")
    assert pycountry.countries.get(alpha_2=code) is not None
    assert normalize_country(code) == code
    assert normalize_country(code.lower()) == code


@PROPERTY
@given(st.one_of(st.text(), st.lists(st.one_of(st.text(), st.none()))))
def test_prop_tags_idempotent_sorted_unique(values):
    tags = normalize_tags(values)
    assert tags == sorted(set(tags))
    assert all(tag and tag == tag.strip() and "," not in tag and "  " not in tag for tag in tags)
    assert normalize_tags(tags) == tags
    assert normalize_tags(",".join(tags)) == tags


_NAME_ALPHABET = st.sampled_from(
    list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZéÉüÜøØłŁßçÇ'’- ") + [NBSP, "\t"]
)
_NAME_WORDS = st.sampled_from(
    ["mac", "mc", "van", "der", "de", "la", "da", "bin", "al", "iii", "o'", "d'", "jean-", "MAC"]
)


@PROPERTY
@given(st.lists(st.one_of(st.text(_NAME_ALPHABET, max_size=12), _NAME_WORDS), max_size=5))
def test_prop_name_idempotent(parts):
    raw = " ".join(parts)
    name = normalize_name(raw)
    if name is None:
        assert raw.strip(f" \t{NBSP}") == ""
        return
    assert name == name.strip() and "  " not in name
    assert normalize_name(name) == name
    assert name.lower() == " ".join(raw.split()).lower()


@PROPERTY
@given(st.text())
def test_prop_name_idempotent_on_arbitrary_text(raw):
    name = normalize_name(raw)
    assert name is None or normalize_name(name) == name


@PROPERTY
@given(st.text(), st.integers(min_value=0, max_value=50))
def test_prop_text_single_line_and_idempotent(raw, max_length):
    text = normalize_text(raw)
    if text is None:
        return
    assert text == text.strip() and "  " not in text
    assert not any(ch in text for ch in "\n\r\t\x00\x0b\x0c")
    assert normalize_text(text) == text
    assert _outcome(normalize_text, raw, max_length)[0] == (
        "ok" if len(text) <= max_length else "error"
    )


@PROPERTY
@given(st.text(max_size=80))
def test_prop_arbitrary_text_only_raises_normalization_error(raw):
    for func in (
        normalize_email,
        normalize_domain,
        host_of,
        normalize_name,
        normalize_company_name,
        company_match_key,
        normalize_phone,
        normalize_country,
        normalize_text,
        normalize_linkedin_url,
    ):
        kind, result = _outcome(func, raw)
        if kind == "ok" and result is not None:
            assert isinstance(result, str)
            assert result == result.strip()
            if func is not company_match_key:  # a key is not an input format
                assert func(result) == result
