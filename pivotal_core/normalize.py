"""Canonical normalization of CRM field values (emails, domains, names, phones, countries, ...).

Shared by the API, importers and benchmarks; invalid input raises NormalizationError.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable
from typing import NamedTuple
from urllib.parse import quote, unquote

import idna
import phonenumbers
import pycountry
from publicsuffixlist import PublicSuffixList

__all__ = [
    "NormalizationError",
    "company_match_key",
    "email_domain",
    "host_of",
    "normalize_company_name",
    "normalize_country",
    "normalize_domain",
    "normalize_email",
    "normalize_linkedin_url",
    "normalize_name",
    "normalize_phone",
    "normalize_tags",
    "normalize_text",
]


class NormalizationError(ValueError):
    """A value could not be normalized; ``message`` is user-facing and omits the field name."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


_INVALID_EMAIL = "is not a valid email address"
_INVALID_DOMAIN = "is not a valid domain name"
_IP_NOT_DOMAIN = "must be a domain name, not an IP address"
_PUBLIC_SUFFIX = "is a public suffix, not a registrable domain"
_INVALID_PHONE = "is not a valid phone number"
_UNKNOWN_COUNTRY = "is not a known country"
_INVALID_LINKEDIN = "is not a LinkedIn profile or company URL"
_NOT_TEXT = "must be a string"

# ---------------------------------------------------------------------------
# Shared text cleanup
# ---------------------------------------------------------------------------

# Every character for which str.isspace() is true (NBSP, ideographic space, line separators, ...).
_WHITESPACE = (
    "\t\n\v\f\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
    "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
# Invisible characters that creep in from copy/paste (zero-width space, word joiner, BOM) and bidi
# embedding/override/isolate controls, which have no business in single-line CRM fields.
_INVISIBLE = "\u200b\u2060\ufeff\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
# Edge trimming additionally drops zero-width (non-)joiners, which only matter between characters.
_STRIP_CHARS = _WHITESPACE + _INVISIBLE + "\u200c\u200d"

# C0/C1 control characters: whitespace-like ones become a space, the rest are deleted.
_TEXT_TRANSLATION: dict[int, str | None] = {
    code: (" " if chr(code).isspace() else None) for code in (*range(0x20), *range(0x7F, 0xA0))
}
_TEXT_TRANSLATION.update(dict.fromkeys(map(ord, _INVISIBLE)))


def _strip(value: object) -> str:
    """Trim whitespace and invisible characters from both ends; reject non-strings."""
    if not isinstance(value, str):
        raise NormalizationError(_NOT_TEXT)
    return value.strip(_STRIP_CHARS)


def _single_line(value: object) -> str:
    """Drop control/invisible chars, collapse whitespace runs, NFC; '' if blank."""
    if not isinstance(value, str):
        raise NormalizationError(_NOT_TEXT)
    if value.isascii():
        if not value.isprintable():
            value = value.translate(_TEXT_TRANSLATION)
        return " ".join(value.split())
    return unicodedata.normalize("NFC", " ".join(value.translate(_TEXT_TRANSLATION).split()))


def normalize_text(value: str | None, max_length: int | None = None) -> str | None:
    """Single-line free text: trimmed, whitespace collapsed, control characters dropped."""
    if value is None:
        return None
    text = _single_line(value)
    if not text:
        return None
    if max_length is not None and len(text) > max_length:
        raise NormalizationError(f"must be at most {max_length} characters")
    return text


# ---------------------------------------------------------------------------
# Hosts and domains
# ---------------------------------------------------------------------------

_LABEL_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\Z")
_ALL_NUMERIC_RE = re.compile(r"[0-9.]+\Z")
_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
_HOST_END_RE = re.compile(r"[/?#\\]")


@functools.cache
def _psl() -> PublicSuffixList:
    """Full public suffix list (ICANN + private section), parsed once on first use."""
    return PublicSuffixList()


@functools.cache
def _psl_icann() -> PublicSuffixList:
    """ICANN-only list, for hosts that are themselves private suffixes (``github.io``)."""
    return PublicSuffixList(only_icann=True)


@functools.lru_cache(maxsize=65536)
def _ascii_host(host: str) -> str:
    """Validate a bare host name and return it lower-cased and IDNA (punycode) encoded."""
    if host.isascii():
        host = host.lower()
    else:
        try:
            host = idna.encode(host, uts46=True).decode("ascii")
        except (idna.IDNAError, UnicodeError, ValueError):
            raise NormalizationError(_INVALID_DOMAIN) from None
    if _ALL_NUMERIC_RE.match(host):
        raise NormalizationError(_IP_NOT_DOMAIN)
    if len(host) > 253:
        raise NormalizationError(_INVALID_DOMAIN)
    labels = host.split(".")
    if len(labels) < 2:  # "localhost", "intranet", "com": no usable top-level domain
        raise NormalizationError(_INVALID_DOMAIN)
    for label in labels:
        if not _LABEL_RE.match(label):
            raise NormalizationError(_INVALID_DOMAIN)
        if label.startswith("xn--"):
            try:
                idna.decode(label)
            except (idna.IDNAError, UnicodeError, ValueError):
                raise NormalizationError(_INVALID_DOMAIN) from None
    tld = labels[-1]
    # Real TLDs are alphabetic (or punycode) and at least two characters long.
    if len(tld) < 2 or not (tld.isalpha() or tld.startswith("xn--")) or tld == "localhost":
        raise NormalizationError(_INVALID_DOMAIN)
    return host


def _parse_host(text: str) -> str:
    """Extract and validate the host of a URL, ``user@host``, ``host:port`` or bare host."""
    match = _SCHEME_RE.match(text)
    if match:
        text = text[match.end() :]
    elif text.startswith("//"):
        text = text[2:]
    host = _HOST_END_RE.split(text, 1)[0]
    if "@" in host:
        host = host.rpartition("@")[2]
    if host.startswith("["):
        raise NormalizationError(_IP_NOT_DOMAIN)
    colons = host.count(":")
    if colons > 1:  # bare IPv6 address
        raise NormalizationError(_IP_NOT_DOMAIN)
    if colons:
        host, _, port = host.partition(":")
        if port and not port.isdigit():
            raise NormalizationError(_INVALID_DOMAIN)
    host = host.strip(_STRIP_CHARS)
    if host.endswith("."):  # fully-qualified form "example.com."
        host = host[:-1]
    if not host:
        raise NormalizationError(_INVALID_DOMAIN)
    return _ascii_host(host)


@functools.lru_cache(maxsize=65536)
def _registrable(host: str) -> str:
    """Registrable domain of a validated ASCII host via the public suffix list."""
    domain = _psl().privatesuffix(host)
    if domain is None:
        # The host is itself a suffix. Private-section suffixes (github.io, blogspot.com) are
        # still real domains owned by a company, so use the ICANN-only view; "co.uk" stays invalid.
        domain = _psl_icann().privatesuffix(host)
        if domain is None:
            raise NormalizationError(_PUBLIC_SUFFIX)
    return domain


@functools.lru_cache(maxsize=65536)
def _normalize_domain_cached(text: str) -> str:
    return _registrable(_parse_host(text))


def normalize_domain(value: str | None) -> str | None:
    """Registrable domain (``example.co.uk``) of a URL, host, email address or messy domain."""
    if value is None:
        return None
    text = _strip(value)
    if not text:
        return None
    return _normalize_domain_cached(text)


@functools.lru_cache(maxsize=65536)
def _host_of_cached(text: str) -> str:
    host = _parse_host(text)
    if host.startswith("www."):
        try:
            _registrable(host[4:])
        except NormalizationError:
            pass  # "www.com": the www label is part of the registrable name, keep it
        else:
            host = host[4:]
    _registrable(host)  # reject bare public suffixes
    return host


def host_of(value: str | None) -> str | None:
    """Full cleaned host (lower-case, punycode, no ``www.``/port/path), not reduced further."""
    if value is None:
        return None
    text = _strip(value)
    if not text:
        return None
    return _host_of_cached(text)


# ---------------------------------------------------------------------------
# Email
# ---------------------------------------------------------------------------

_ATEXT = frozenset("abcdefghijklmnopqrstuvwxyz0123456789!#$%&'*+/=?^_`{|}~-")
_LOCAL_ASCII_RE = re.compile(r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*\Z")


def _valid_unicode_local(local: str) -> bool:
    """Dot-atom check that also allows printable non-ASCII characters (RFC 6531)."""
    for atom in local.split("."):
        if not atom:
            return False
        for char in atom:
            if char.isascii():
                if char not in _ATEXT:
                    return False
            elif not char.isprintable() or char.isspace():
                return False
    return True


def _email_host(domain: str) -> str:
    try:
        return _ascii_host(domain)  # cached
    except NormalizationError:
        raise NormalizationError(_INVALID_EMAIL) from None


def normalize_email(value: str | None) -> str | None:
    """Lower-cased, IDNA-encoded email; accepts ``<...>``, ``Name <...>`` and ``mailto:``."""
    if value is None:
        return None
    text = _strip(value)
    if not text:
        return None
    if text.endswith(">") and "<" in text:  # "<a@b.com>" or 'Jane Doe <a@b.com>'
        text = text[text.rfind("<") + 1 : -1].strip(_STRIP_CHARS)
    if text[:7].lower() == "mailto:":
        text = text[7:].partition("?")[0].strip(_STRIP_CHARS)
    if text.count("@") != 1:  # quoted local parts ("a@b"@c.com) are deliberately not supported
        raise NormalizationError(_INVALID_EMAIL)
    local, _, domain = text.partition("@")
    # CRM practice: the whole address, local part included, is lower-cased. RFC 5321 allows
    # case-sensitive local parts but no real mail provider uses them, and contact matching and
    # de-duplication must treat Jane.Doe@x.com and jane.doe@x.com as the same person.
    if local.isascii():
        local = local.lower()
        if not _LOCAL_ASCII_RE.match(local):
            raise NormalizationError(_INVALID_EMAIL)
        local_octets = len(local)
    else:
        local = unicodedata.normalize("NFC", unicodedata.normalize("NFC", local).lower())
        if not _valid_unicode_local(local):
            raise NormalizationError(_INVALID_EMAIL)
        local_octets = len(local.encode("utf-8"))
    if local_octets > 64 or not domain or domain.startswith("["):
        raise NormalizationError(_INVALID_EMAIL)
    host = _email_host(domain)
    if local_octets + 1 + len(host) > 254:
        raise NormalizationError(_INVALID_EMAIL)
    return f"{local}@{host}"


def email_domain(email: str) -> str:
    """Domain part of a normalized email address (everything after the ``@``)."""
    local, sep, domain = email.rpartition("@")
    if not sep or not local or not domain:
        raise NormalizationError(_INVALID_EMAIL)
    return domain.lower()


# ---------------------------------------------------------------------------
# Person and company names
# ---------------------------------------------------------------------------

# Surname particles kept lower-case even as the first word ("van der Berg", "de la Cruz") ...
_PARTICLES_ANYWHERE = frozenset(
    {"van", "von", "de", "der", "den", "del", "della", "des", "dos", "das", "ter", "ten"}
)
# ... and ones lower-cased only after the first word, because as a first word they are usually
# capitalized ("Da Silva", "Le Blanc", "Al Pacino") or a given name on their own.
_PARTICLES_INNER = frozenset({"da", "di", "du", "la", "le", "al", "bin", "ibn", "y"})
_ROMAN_NUMERALS = frozenset({"ii", "iii", "iv", "vi", "vii", "viii"})
# "Mac" + >= 3 letters becomes MacX... except for these common non-Gaelic names (conservative).
_MAC_EXCEPTIONS = (
    "mack",  # Mack, Mackie, Mackey, Macklin, Mackenzie, Mackintosh (both spellings exist)
    "macy",
    "mace",  # Mace, Macedo, Macek
    "machin",
    "machad",
    "machen",
    "machon",
    "machu",
    "macon",
    "macias",
    "maciel",
    "maciej",
    "macari",
    "macaro",
    "macri",
    "macron",
    "macomber",
    "macquarie",
)
_NAME_PIECE_RE = re.compile(r"([-'\u2019])")


def _upper_first_letter(text: str) -> str:
    for index, char in enumerate(text):
        if char.isalpha():
            upper = char.upper()
            if len(upper) != 1:  # "ß" -> "SS": use a one-char titlecase or keep the char
                upper = char.title() if len(char.title()) == 1 else char
            return f"{text[:index]}{upper}{text[index + 1 :]}"
    return text


def _capitalize_name_piece(piece: str) -> str:
    if piece.isalpha():
        if piece.startswith("mc") and len(piece) > 2:
            return "Mc" + _upper_first_letter(piece[2:])
        if piece.startswith("mac") and len(piece) >= 6 and not piece.startswith(_MAC_EXCEPTIONS):
            return "Mac" + _upper_first_letter(piece[3:])
    return _upper_first_letter(piece)


def _capitalize_name_word(word: str) -> str:
    parts = _NAME_PIECE_RE.split(word)  # [piece, sep, piece, sep, ...]
    out = [_capitalize_name_piece(parts[0])]
    for index in range(1, len(parts), 2):
        separator, piece = parts[index], parts[index + 1]
        previous = parts[index - 1]
        if separator == "-" or len(previous) == 1 or previous == "dell":
            # Jean-Luc, O'Brien, D'Angelo, N'Diaye, Dell'Acqua
            piece = _capitalize_name_piece(piece)
        out.append(separator)
        out.append(piece)
    return "".join(out)


def normalize_name(value: str | None) -> str | None:
    """Person name part; ALL-CAPS/all-lower input is title-cased (McDonald, van der Berg)."""
    if value is None:
        return None
    text = _single_line(value)
    if not text:
        return None
    if not (text.isupper() or text.islower()):
        return text  # mixed case is the person's own spelling: keep it
    words = unicodedata.normalize("NFC", text.lower()).split(" ")
    only_particles = all(w in _PARTICLES_ANYWHERE or w in _PARTICLES_INNER for w in words)
    out = []
    for index, word in enumerate(words):
        if not only_particles and (
            word in _PARTICLES_ANYWHERE or (index and word in _PARTICLES_INNER)
        ):
            out.append(word)
        elif index and word in _ROMAN_NUMERALS:
            out.append(word.upper())
        else:
            out.append(_capitalize_name_word(word))
    return " ".join(out)


def normalize_company_name(value: str | None) -> str | None:
    """Company display name: trimmed and whitespace-collapsed, case kept."""
    if value is None:
        return None
    return _single_line(value) or None


_LEGAL_SUFFIXES = frozenset(
    {
        "inc", "incorporated", "llc", "llp", "lp", "ltd", "limited", "gmbh", "ag", "kg", "sa",
        "sas", "sarl", "spa", "nv", "plc", "corp", "corporation", "co", "company", "bv", "srl",
        "oy", "ab", "as", "pty", "pte", "pvt",
    }
)  # fmt: skip
_DOTTED_ABBREVIATION_RE = re.compile(r"(?<!\w)(?:\w\.)+\w(?!\w)\.?")
_APOSTROPHE_RE = re.compile(r"['\u2019`]")
_NON_WORD_RE = re.compile(r"[\W_]+")


def company_match_key(value: str | None) -> str | None:
    """Dedup key: no case, accents, punctuation or legal suffixes (``Acme, Inc.`` -> ``acme``)."""
    if value is None:
        return None
    text = _single_line(value)
    if not text:
        return None
    text = unicodedata.normalize("NFKD", text.casefold())
    if not text.isascii():
        text = "".join(char for char in text if not unicodedata.combining(char))
    text = text.replace("&", " and ")
    text = _DOTTED_ABBREVIATION_RE.sub(lambda m: m.group().replace(".", ""), text)  # s.a. -> sa
    text = _APOSTROPHE_RE.sub("", text)  # macy's -> macys
    words = _NON_WORD_RE.sub(" ", text).split()
    stripped = False
    while len(words) > 1:
        if words[-1] in _LEGAL_SUFFIXES or (stripped and words[-1] == "and"):  # "Smith & Co."
            words.pop()
            stripped = True
        else:
            break
    if len(words) > 1 and words[0] == "the":
        words.pop(0)
    return " ".join(words) or None


# ---------------------------------------------------------------------------
# Phone
# ---------------------------------------------------------------------------


# phonenumbers.is_valid_number re-derives everything on each call: for a calling code shared by
# several regions (+1 has 25) it types the number against region after region, then types it
# again for the region found, and each pattern goes through re.compile, whose cache is too small
# for the metadata of every region. _is_valid_number gives the same answer, step for step, from
# patterns compiled once per region.

# A PhoneNumberDesc that can match: the lengths it allows (empty: any) and its pattern.
_PhoneDesc = tuple[frozenset[int], re.Pattern[str]]


class _RegionRules(NamedTuple):
    """What decides a region's validity, from its phonenumbers metadata."""

    leading_digits: re.Pattern[str] | None  # picks the region among those sharing a calling code
    general: _PhoneDesc | None  # every valid number matches it; None: nothing does
    types: tuple[_PhoneDesc, ...]  # fixed line, mobile, toll free, ...: any one makes it valid


def _compile_desc(desc: phonenumbers.PhoneNumberDesc | None) -> _PhoneDesc | None:
    if desc is None or not desc.national_number_pattern:
        return None  # phonenumbers' _match_national_number: matches nothing
    return frozenset(desc.possible_length), re.compile(desc.national_number_pattern)


def _region_rules(metadata: phonenumbers.PhoneMetadata) -> _RegionRules:
    # phonenumbers' _number_type_helper finds a type (is not UNKNOWN) when the general desc and
    # any one type desc match, except that mobile is not tried when its pattern is fixed line's.
    # The order is irrelevant to a yes/no answer; the common fixed line and mobile go first.
    names = ["fixed_line", "mobile", "toll_free", "premium_rate", "shared_cost", "voip"]
    names += ["personal_number", "pager", "uan", "voicemail"]
    if metadata.same_mobile_and_fixed_line_pattern:
        names.remove("mobile")
    descs = (_compile_desc(getattr(metadata, name)) for name in names)
    leading = metadata.leading_digits
    return _RegionRules(
        leading_digits=None if leading is None else re.compile(leading),
        general=_compile_desc(metadata.general_desc),
        types=tuple(desc for desc in descs if desc is not None),
    )


def _matches_desc(nsn: str, desc: _PhoneDesc) -> bool:
    lengths, pattern = desc
    return (not lengths or len(nsn) in lengths) and pattern.fullmatch(nsn) is not None


def _has_number_type(nsn: str, rules: _RegionRules) -> bool:
    """Whether phonenumbers' number type of ``nsn`` under these rules is not UNKNOWN."""
    if rules.general is None or not _matches_desc(nsn, rules.general):
        return False
    for desc in rules.types:
        if _matches_desc(nsn, desc):
            return True
    return False


@functools.cache
def _rules_for_region_lookup(region: str) -> _RegionRules | None:
    """Rules of a region as phonenumbers' _region_code_for_number_from_list reads them."""
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region.upper(), None)
    return None if metadata is None else _region_rules(metadata)


@functools.cache
def _rules_for_validation(country_code: int, region: str) -> _RegionRules | None:
    """Rules phonenumbers.is_valid_number_for_region applies; None when it returns False."""
    metadata = phonenumbers.PhoneMetadata.metadata_for_region_or_calling_code(
        country_code, region.upper()
    )
    if metadata is None:
        return None
    if region != phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY and (
        country_code != phonenumbers.country_code_for_valid_region(region)
    ):
        return None
    return _region_rules(metadata)


def _is_valid_number(number: phonenumbers.PhoneNumber) -> bool:
    """Exactly ``phonenumbers.is_valid_number(number)``, without its repeated work."""
    country_code = number.country_code
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(country_code)
    if regions is None:
        return False
    nsn = phonenumbers.national_significant_number(number)
    if len(regions) == 1:
        region = regions[0]
    else:  # phonenumbers' region_code_for_number
        for region in regions:
            rules = _rules_for_region_lookup(region)
            if rules is None:
                continue
            if rules.leading_digits is not None:
                if rules.leading_digits.match(nsn):
                    break
            elif _has_number_type(nsn, rules):
                break
        else:
            return False
    rules = _rules_for_validation(country_code, region)
    return rules is not None and _has_number_type(nsn, rules)


# A North American number written the usual ways: "(415) 555-0123", "415.555.0123",
# "+1 415 555 0123", "1-415-555-0123". Its area code and exchange start with 2-9, so neither
# a national prefix ("1") nor a leading zero can be read into it, and phonenumbers.parse
# reads it as calling code 1 and these ten digits (with "+1", or the "1" of an eleven-digit
# number, or in a region of calling code 1); the equality is a property test
# (tests/test_phone_validity.py). Anything else (extensions, letters, other layouts) is parsed.
_NANP_RE = re.compile(
    r"(?:(?P<plus>\+)1[ .-]?|(?P<one>1)[ .-]?)?"
    r"(?:\((?P<a1>[2-9][0-9]{2})\)|(?P<a2>[2-9][0-9]{2}))[ .-]?"
    r"(?P<exchange>[2-9][0-9]{2})[ .-]?(?P<line>[0-9]{4})"
)


@functools.cache
def _calling_code(region: str | None) -> int | None:
    return phonenumbers.country_code_for_region(region) if region else None


def _nanp_number(text: str, region: str | None) -> phonenumbers.PhoneNumber | None:
    """The number phonenumbers.parse reads from ``text`` when it is a plainly written North
    American number, else None (then it must be parsed)."""
    found = _NANP_RE.fullmatch(text)
    if found is None or (found["plus"] is None and _calling_code(region) != 1):
        return None
    area = found["a1"] or found["a2"]
    digits = f"{area}{found['exchange']}{found['line']}"
    return phonenumbers.PhoneNumber(country_code=1, national_number=int(digits))


@functools.lru_cache(maxsize=16384)
def _normalize_phone_cached(text: str, region: str | None) -> str:
    if text[:4].lower() == "tel:":
        text = text[4:].lstrip()
    head = text.lstrip("( ")
    if head.startswith("00"):  # international prefix used by most of the world, whatever the region
        text = "+" + head[2:]
    fast = _nanp_number(text, region)
    if fast is not None:
        if not _is_valid_number(fast):
            raise NormalizationError(_INVALID_PHONE)
        return f"+1{fast.national_number}"
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        raise NormalizationError(_INVALID_PHONE) from None
    if not _is_valid_number(number):
        raise NormalizationError(_INVALID_PHONE)
    # What format_number(number, E164) returns, since parse leaves raw_input unset; E.164 has no
    # extension field, so any "x123" / "ext. 123" is dropped here.
    return f"+{number.country_code}{phonenumbers.national_significant_number(number)}"


def normalize_phone(value: str | None, default_region: str | None = "US") -> str | None:
    """E.164 phone number (``+16502530000``); national numbers are read in ``default_region``."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):  # spreadsheet imports
        value = str(value)
    text = " ".join(_strip(value).split())  # phonenumbers rejects tabs and other odd spacing
    if not text:
        return None
    return _normalize_phone_cached(text, default_region.upper() if default_region else None)


# ---------------------------------------------------------------------------
# Country
# ---------------------------------------------------------------------------

_COUNTRY_ALIASES = {
    "america": "US",
    "united states of america": "US",
    "usa": "US",
    "us": "US",
    "u s": "US",
    "u s a": "US",
    "uk": "GB",
    "u k": "GB",
    "britain": "GB",
    "great britain": "GB",
    "england": "GB",
    "scotland": "GB",
    "wales": "GB",
    "northern ireland": "GB",
    "deutschland": "DE",
    "germany": "DE",
    "holland": "NL",
    "netherlands": "NL",
    "nederland": "NL",
    "korea": "KR",
    "south korea": "KR",
    "republic of korea": "KR",
    "north korea": "KP",
    "russia": "RU",
    "czech republic": "CZ",
    "ivory coast": "CI",
    "vietnam": "VN",
    "laos": "LA",
    "syria": "SY",
    "taiwan": "TW",
    "macedonia": "MK",
    "burma": "MM",
    "swaziland": "SZ",
    "cape verde": "CV",
    "vatican": "VA",
    "vatican city": "VA",
    "palestine": "PS",
    "brunei": "BN",
    "turkey": "TR",
    "turkiye": "TR",
    "uae": "AE",
    "emirates": "AE",
    "hong kong sar": "HK",
    "macau": "MO",
    "east timor": "TL",
    "democratic republic of the congo": "CD",
    "drc": "CD",
    "congo brazzaville": "CG",
    "congo kinshasa": "CD",
    "espana": "ES",
    "osterreich": "AT",
    "schweiz": "CH",
    "suisse": "CH",
    "svizzera": "CH",
    "italia": "IT",
    "brasil": "BR",
    "mexico": "MX",
    "polska": "PL",
    "sverige": "SE",
    "norge": "NO",
    "danmark": "DK",
    "suomi": "FI",
    "eire": "IE",
    "nippon": "JP",
    "prc": "CN",
    "mainland china": "CN",
}
_COUNTRY_KEY_DROP_RE = re.compile(r"['\u2019.]")
_COUNTRY_KEY_SPACE_RE = re.compile(r"[\W_]+")


def _country_key(text: str) -> str:
    """Case/accent/punctuation-free key: "U.S.A." -> "usa", "Côte d'Ivoire" -> "cote divoire"."""
    text = unicodedata.normalize("NFKD", text.casefold())
    if not text.isascii():
        text = "".join(char for char in text if not unicodedata.combining(char))
    text = _COUNTRY_KEY_DROP_RE.sub("", text.replace("&", " and "))
    words = _COUNTRY_KEY_SPACE_RE.sub(" ", text).split()
    if len(words) > 1 and words[0] == "the":
        words.pop(0)
    if len(words) > 1:  # "St. Lucia"; a lone "ST" is Sao Tome and Principe's code
        words = ["saint" if word == "st" else word for word in words]
    return " ".join(words)


@functools.cache
def _country_index() -> dict[str, str]:
    """Lookup key -> alpha-2, built once from pycountry; later sources take priority."""
    derived: dict[str, set[str]] = {}
    names: dict[str, str] = {}
    for country in pycountry.countries:
        code = country.alpha_2
        for attr in ("name", "official_name", "common_name"):
            name = getattr(country, attr, None)
            if not name:
                continue
            names[_country_key(name)] = code
            # "Korea, Republic of" -> "republic of korea" and "korea";
            # "Holy See (Vatican City State)" -> "holy see".
            base = name.split(" (")[0]
            head, sep, tail = base.partition(", ")
            for variant in (base, f"{tail} {head}" if sep else "", head if sep else ""):
                if variant:
                    derived.setdefault(_country_key(variant), set()).add(code)
    index = {key: codes.pop() for key, codes in derived.items() if len(codes) == 1}
    index.update(names)
    index.update(_COUNTRY_ALIASES)
    for country in pycountry.countries:
        index[country.alpha_3.lower()] = country.alpha_2
    for country in pycountry.countries:
        index[country.alpha_2.lower()] = country.alpha_2
    return index


@functools.lru_cache(maxsize=4096)
def _normalize_country_cached(text: str) -> str:
    code = _country_index().get(_country_key(text))
    if code is None:
        raise NormalizationError(_UNKNOWN_COUNTRY)
    return code


def normalize_country(value: str | None) -> str | None:
    """ISO 3166-1 alpha-2 code from a code (alpha-2/alpha-3), English name or common alias."""
    if value is None:
        return None
    text = _strip(value)
    if not text:
        return None
    return _normalize_country_cached(text)


# ---------------------------------------------------------------------------
# Tags
# ---------------------------------------------------------------------------


def normalize_tags(values: str | Iterable[str] | None) -> list[str]:
    """Sorted, de-duplicated, lower-case tags from a list or a comma-separated string.

    Commas inside list items also separate tags, so a tag never contains a comma.
    """
    if values is None:
        return []
    if isinstance(values, str):
        parts = values.split(",")
    else:
        parts = []
        for item in values:
            if item is None:
                continue
            if not isinstance(item, str):
                raise NormalizationError("must be a list of strings")
            parts.extend(item.split(","))
    tags: dict[str, None] = {}
    for part in parts:
        tag = _single_line(part).lower()
        if tag:
            if not tag.isascii():
                tag = unicodedata.normalize("NFC", tag)
            tags[tag] = None
    return sorted(tags)


# ---------------------------------------------------------------------------
# LinkedIn
# ---------------------------------------------------------------------------

_LINKEDIN_RE = re.compile(
    r"(?:https?://)?(?:[a-z0-9-]+\.)?linkedin\.com/(in|company)/([^/?#\s]+)/?(?:[/?#].*)?\Z",
    re.IGNORECASE | re.DOTALL,
)
_LINKEDIN_SLUG_RE = re.compile(r"[\w-]{1,100}\Z")


def normalize_linkedin_url(value: str | None) -> str | None:
    """Canonical ``https://www.linkedin.com/in/<slug>`` or ``.../company/<slug>`` URL."""
    if value is None:
        return None
    text = _strip(value)
    if not text:
        return None
    match = _LINKEDIN_RE.match(text)
    if not match:
        raise NormalizationError(_INVALID_LINKEDIN)
    kind = match.group(1).lower()
    slug = unicodedata.normalize("NFC", unquote(match.group(2)).lower())
    if not _LINKEDIN_SLUG_RE.match(slug):
        raise NormalizationError(_INVALID_LINKEDIN)
    return f"https://www.linkedin.com/{kind}/{quote(slug, safe='-_')}"
