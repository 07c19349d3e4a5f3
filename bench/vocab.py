"""Embedded word lists the benchmark data is built from: people, companies, places, phones.

Everything here is plain data plus a few pure helpers, so the generators stay fast (no
Faker) and deterministic for a seed.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from math import gcd

_FIRST_NAMES: tuple[str, ...] = (
    "Aaron",
    "Abigail",
    "Adam",
    "Adrian",
    "Aisha",
    "Alan",
    "Albert",
    "Alejandro",
    "Alex",
    "Alice",
    "Alicia",
    "Amanda",
    "Amelia",
    "Amir",
    "Amy",
    "Ana",
    "Andrea",
    "Andrew",
    "Angela",
    "Anna",
    "Anthony",
    "Antoine",
    "Arjun",
    "Ashley",
    "Austin",
    "Barbara",
    "Beatriz",
    "Ben",
    "Benjamin",
    "Bernard",
    "Beth",
    "Bianca",
    "Bradley",
    "Brandon",
    "Brian",
    "Bruno",
    "Caleb",
    "Camille",
    "Carlos",
    "Carmen",
    "Carol",
    "Caroline",
    "Catherine",
    "Charles",
    "Charlotte",
    "Chen",
    "Chloe",
    "Chris",
    "Christian",
    "Christina",
    "Claire",
    "Clara",
    "Colin",
    "Connor",
    "Craig",
    "Daniel",
    "Daniela",
    "David",
    "Deborah",
    "Deepak",
    "Denise",
    "Derek",
    "Diana",
    "Diego",
    "Dmitri",
    "Dominic",
    "Donald",
    "Dorothy",
    "Dylan",
    "Edward",
    "Elena",
    "Eli",
    "Elif",
    "Elizabeth",
    "Ella",
    "Emily",
    "Emma",
    "Eric",
    "Erik",
    "Ethan",
    "Eva",
    "Fatima",
    "Felix",
    "Fernando",
    "Fiona",
    "Florian",
    "Frank",
    "Gabriel",
    "Gareth",
    "George",
    "Grace",
    "Greg",
    "Hannah",
    "Hans",
    "Harper",
    "Harry",
    "Heather",
    "Helen",
    "Henry",
    "Hiroshi",
    "Hugo",
    "Ian",
    "Ingrid",
    "Isaac",
    "Isabel",
    "Ivan",
    "Jack",
    "Jacob",
    "James",
    "Jan",
    "Jane",
    "Jason",
    "Javier",
    "Jennifer",
    "Jessica",
    "Joanna",
    "Joel",
    "John",
    "Jonas",
    "Jordan",
    "José",
    "Joseph",
    "Julia",
    "Julian",
    "Karen",
    "Karim",
    "Kate",
    "Kevin",
    "Kim",
    "Kyle",
    "Lars",
    "Laura",
    "Lauren",
    "Leah",
    "Lena",
    "Leo",
    "Liam",
    "Linda",
    "Lisa",
    "Lucas",
    "Lucy",
    "Luis",
    "Lukas",
    "Maria",
    "Mark",
    "Marta",
    "Martin",
    "Mary",
    "Mateo",
    "Matthew",
    "Maya",
    "Megan",
    "Mei",
    "Michael",
    "Michelle",
    "Miguel",
    "Mohammed",
    "Nadia",
    "Naomi",
    "Nathan",
    "Nicole",
    "Nikhil",
    "Noah",
    "Nora",
    "Oliver",
    "Olivia",
    "Omar",
    "Oscar",
    "Owen",
    "Pablo",
    "Patricia",
    "Patrick",
    "Paul",
    "Paula",
    "Peter",
    "Philip",
    "Priya",
    "Rachel",
    "Rahul",
    "Raj",
    "Rebecca",
    "Ricardo",
    "Richard",
    "Robert",
    "Rosa",
    "Ryan",
    "Samuel",
    "Sandra",
    "Sara",
    "Sean",
    "Sebastian",
    "Sofia",
    "Sophie",
    "Stefan",
    "Stephanie",
    "Steven",
    "Susan",
    "Takeshi",
    "Tanya",
    "Thomas",
    "Timothy",
    "Tom",
    "Tyler",
    "Valentina",
    "Victor",
    "Victoria",
    "Vikram",
    "William",
    "Yuki",
    "Zoë",
)

_LAST_NAMES: tuple[str, ...] = (
    "Abbott",
    "Adams",
    "Aguilar",
    "Ahmed",
    "Alexander",
    "Ali",
    "Allen",
    "Alvarez",
    "Andersen",
    "Anderson",
    "Armstrong",
    "Arnold",
    "Bailey",
    "Baker",
    "Banerjee",
    "Barnes",
    "Bauer",
    "Becker",
    "Bell",
    "Bennett",
    "Berg",
    "Bernard",
    "Bishop",
    "Black",
    "Blake",
    "Boyd",
    "Bradley",
    "Brooks",
    "Brown",
    "Bruno",
    "Bryant",
    "Burke",
    "Burns",
    "Butler",
    "Campbell",
    "Carlsson",
    "Carter",
    "Castillo",
    "Castro",
    "Chan",
    "Chandra",
    "Chang",
    "Chapman",
    "Chavez",
    "Chen",
    "Cho",
    "Clark",
    "Clarke",
    "Cole",
    "Coleman",
    "Collins",
    "Cook",
    "Cooper",
    "Costa",
    "Cox",
    "Cruz",
    "Cunningham",
    "Daniels",
    "Das",
    "Davies",
    "Davis",
    "Dean",
    "Dubois",
    "Duncan",
    "Dunn",
    "Edwards",
    "Elliott",
    "Ellis",
    "Evans",
    "Fernandes",
    "Fernández",
    "Ferrari",
    "Fischer",
    "Fisher",
    "Fleming",
    "Flores",
    "Ford",
    "Foster",
    "Fox",
    "Francis",
    "Fraser",
    "Fuchs",
    "Garcia",
    "Gardner",
    "Gibson",
    "Gomez",
    "Gonzalez",
    "Gordon",
    "Graham",
    "Grant",
    "Gray",
    "Green",
    "Griffin",
    "Gupta",
    "Gutierrez",
    "Hall",
    "Hamilton",
    "Hansen",
    "Harris",
    "Harrison",
    "Hart",
    "Hayes",
    "Henderson",
    "Henry",
    "Hernandez",
    "Hill",
    "Hoffmann",
    "Holmes",
    "Howard",
    "Huang",
    "Hughes",
    "Hunt",
    "Hunter",
    "Iyer",
    "Jackson",
    "James",
    "Jansen",
    "Jenkins",
    "Jensen",
    "Johansson",
    "Johnson",
    "Jones",
    "Jordan",
    "Kaur",
    "Keller",
    "Kelly",
    "Kennedy",
    "Khan",
    "Kim",
    "King",
    "Klein",
    "Knight",
    "Koch",
    "Kowalski",
    "Kumar",
    "Lambert",
    "Lane",
    "Larsen",
    "Lawrence",
    "Lee",
    "Lewis",
    "Li",
    "Lin",
    "Liu",
    "Long",
    "Lopez",
    "Lucas",
    "Maier",
    "Marshall",
    "Martin",
    "Martinez",
    "Mason",
    "Matthews",
    "McCarthy",
    "McDonald",
    "Mehta",
    "Mendoza",
    "Meyer",
    "Miller",
    "Mitchell",
    "Moore",
    "Morales",
    "Moreau",
    "Morgan",
    "Morris",
    "Müller",
    "Murphy",
    "Murray",
    "Nakamura",
    "Navarro",
    "Nelson",
    "Nguyen",
    "Nielsen",
    "Nilsson",
    "Novak",
    "O'Brien",
    "O'Connor",
    "Olsen",
    "Ortiz",
    "Owen",
    "Palmer",
    "Park",
    "Parker",
    "Patel",
    "Perez",
    "Perry",
    "Peters",
    "Petersen",
    "Phillips",
    "Pierce",
    "Powell",
    "Price",
    "Quinn",
    "Ramirez",
    "Ramos",
    "Rao",
    "Reddy",
    "Reed",
    "Reid",
    "Reyes",
    "Reynolds",
    "Richards",
    "Richardson",
    "Rivera",
    "Roberts",
    "Robertson",
    "Robinson",
    "Rodriguez",
    "Rogers",
    "Romero",
    "Rossi",
    "Russell",
    "Ryan",
    "Saito",
    "Sanchez",
    "Sanders",
    "Santos",
    "Sato",
    "Schmidt",
    "Schneider",
    "Schulz",
    "Scott",
    "Shah",
    "Sharma",
    "Shaw",
    "Silva",
    "Simmons",
    "Simpson",
    "Singh",
    "Smith",
    "Snyder",
    "Sousa",
    "Spencer",
    "Stewart",
    "Stone",
    "Sullivan",
    "Suzuki",
    "Takahashi",
    "Tanaka",
    "Taylor",
    "Thomas",
    "Thompson",
    "Torres",
    "Tran",
    "Turner",
    "Vargas",
    "Vasquez",
    "Wagner",
    "Walker",
    "Wallace",
    "Walsh",
    "Wang",
    "Ward",
    "Watanabe",
    "Watson",
    "Weber",
    "Webb",
    "Wells",
    "West",
    "White",
    "Williams",
    "Wilson",
    "Wolf",
    "Wong",
    "Wood",
    "Wright",
    "Wu",
    "Yamamoto",
    "Yang",
    "Young",
    "Zhang",
    "Zhao",
    "Zimmermann",
    "Achterberg",
    "Bianchi",
    "Bondarenko",
    "Brandt",
    "Carvalho",
    "Conti",
    "Dimitrov",
    "Dvořák",
    "Eriksson",
    "Esposito",
    "Falk",
    "Fontaine",
    "Galli",
    "Gallagher",
    "Haas",
    "Horvat",
    "Ibrahim",
    "Ito",
    "Jovanović",
    "Kaplan",
    "Kato",
    "Kovacs",
    "Krause",
    "Laine",
    "Lindqvist",
    "Lombardi",
    "Lund",
    "Mahmoud",
    "Marino",
    "Mazur",
    "Mikkelsen",
    "Moretti",
    "Nowak",
    "Okafor",
    "Oliveira",
    "Osei",
    "Pereira",
    "Petrov",
    "Popescu",
    "Quintero",
    "Ricci",
    "Rosen",
    "Schwarz",
    "Sokolov",
    "Svensson",
    "Szabo",
    "Tkachenko",
    "Vidal",
    "Vogel",
    "Volkov",
    "Yilmaz",
    "Zeller",
)

# Company names and domains are two words: "Blue" + "River" -> blueriver.com.
COMPANY_FIRST_WORDS: tuple[str, ...] = (
    "acme",
    "alpine",
    "amber",
    "anchor",
    "apex",
    "arc",
    "arrow",
    "atlas",
    "aurora",
    "axis",
    "beacon",
    "bear",
    "birch",
    "black",
    "blue",
    "bold",
    "brave",
    "bright",
    "bronze",
    "cedar",
    "central",
    "clear",
    "cloud",
    "cobalt",
    "comet",
    "copper",
    "coral",
    "crimson",
    "crystal",
    "cyan",
    "dawn",
    "deep",
    "delta",
    "eagle",
    "east",
    "echo",
    "ember",
    "emerald",
    "ever",
    "falcon",
    "fern",
    "first",
    "five",
    "fox",
    "free",
    "fresh",
    "frontier",
    "gold",
    "granite",
    "great",
    "green",
    "grey",
    "harbor",
    "hawk",
    "high",
    "horizon",
    "indigo",
    "iron",
    "ivory",
    "jade",
    "keystone",
    "kite",
    "lake",
    "laurel",
    "lime",
    "lion",
    "lunar",
    "maple",
    "marble",
    "meadow",
    "metro",
    "mint",
    "modern",
    "moss",
    "mountain",
    "nimble",
    "noble",
    "north",
    "nova",
    "oak",
    "ocean",
    "olive",
    "omega",
    "onyx",
    "open",
    "orange",
    "orbit",
    "pacific",
    "peak",
    "pearl",
    "pine",
    "pioneer",
    "pixel",
    "polar",
    "prime",
    "pure",
    "quantum",
    "quick",
    "radiant",
    "rapid",
    "raven",
    "red",
    "ridge",
    "river",
    "rock",
    "royal",
    "ruby",
    "sage",
    "sapphire",
    "scarlet",
    "shadow",
    "sharp",
    "sierra",
    "silver",
    "sky",
    "slate",
    "smart",
    "solar",
    "south",
    "spark",
    "spring",
    "star",
    "steel",
    "stone",
    "storm",
    "summit",
    "sun",
    "swift",
    "terra",
    "thunder",
    "tidal",
    "timber",
    "titan",
    "true",
    "twin",
    "united",
    "urban",
    "valley",
    "vector",
    "velvet",
    "vertex",
    "violet",
    "vista",
    "vivid",
    "west",
    "white",
    "wild",
    "willow",
    "wind",
    "wise",
    "yellow",
    "zen",
    "zenith",
)

COMPANY_SECOND_WORDS: tuple[str, ...] = (
    "analytics",
    "apps",
    "bank",
    "bay",
    "bio",
    "bit",
    "board",
    "box",
    "bridge",
    "brands",
    "byte",
    "capital",
    "care",
    "cart",
    "cast",
    "cell",
    "chain",
    "circle",
    "city",
    "code",
    "commerce",
    "craft",
    "creative",
    "data",
    "deck",
    "desk",
    "digital",
    "dynamics",
    "edge",
    "energy",
    "engine",
    "field",
    "file",
    "finance",
    "flow",
    "force",
    "forge",
    "foundry",
    "frame",
    "fuel",
    "fund",
    "gate",
    "gear",
    "genomics",
    "glass",
    "grid",
    "group",
    "grove",
    "guard",
    "health",
    "hive",
    "hub",
    "industries",
    "insight",
    "ink",
    "kit",
    "lab",
    "labs",
    "land",
    "layer",
    "leaf",
    "ledger",
    "lens",
    "level",
    "line",
    "link",
    "logic",
    "loop",
    "machines",
    "made",
    "mark",
    "media",
    "metrics",
    "mill",
    "mind",
    "motion",
    "net",
    "network",
    "node",
    "north",
    "one",
    "ops",
    "path",
    "pay",
    "peak",
    "pixel",
    "plane",
    "platform",
    "point",
    "port",
    "post",
    "power",
    "pulse",
    "quest",
    "rail",
    "reach",
    "robotics",
    "root",
    "route",
    "scale",
    "science",
    "scope",
    "sense",
    "shift",
    "shop",
    "signal",
    "soft",
    "solutions",
    "sound",
    "source",
    "space",
    "sphere",
    "spot",
    "stack",
    "stream",
    "studio",
    "sync",
    "systems",
    "tech",
    "thread",
    "tide",
    "tools",
    "track",
    "trade",
    "trail",
    "trust",
    "vault",
    "ventures",
    "view",
    "vision",
    "wave",
    "way",
    "wire",
    "works",
    "worx",
    "yard",
    "zone",
)

# (top-level domain, legal suffixes used for companies registered there)
TLDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("com", ("Inc", "Inc.", "LLC", "Corp", "Corporation", "", "")),
    ("io", ("Inc", "", "")),
    ("co", ("Inc", "LLC", "")),
    ("net", ("Inc", "LLC", "")),
    ("ai", ("Inc", "")),
    ("co.uk", ("Ltd", "Limited", "plc", "")),
    ("de", ("GmbH", "AG", "")),
    ("fr", ("SAS", "SA", "")),
    ("com.au", ("Pty Ltd", "")),
    ("ca", ("Inc", "Ltd", "")),
    ("nl", ("B.V.", "")),
)

# Words a company name may end with that are not part of its name key.
LEGAL_SUFFIXES: frozenset[str] = frozenset(
    s.lower().replace(".", "") for _, suffixes in TLDS for part in suffixes for s in part.split()
) | {"co", "company"}

INDUSTRIES: tuple[str, ...] = (
    "Software",
    "Computer & Network Security",
    "Information Technology & Services",
    "Internet",
    "Financial Services",
    "Banking",
    "Insurance",
    "Hospital & Health Care",
    "Pharmaceuticals",
    "Biotechnology",
    "Medical Devices",
    "Retail",
    "Consumer Goods",
    "Food & Beverages",
    "Logistics & Supply Chain",
    "Transportation",
    "Automotive",
    "Aviation & Aerospace",
    "Telecommunications",
    "Media Production",
    "Marketing & Advertising",
    "Education Management",
    "E-Learning",
    "Real Estate",
    "Construction",
    "Utilities",
    "Oil & Energy",
    "Renewables & Environment",
    "Manufacturing",
    "Machinery",
    "Management Consulting",
    "Legal Services",
    "Accounting",
    "Staffing & Recruiting",
    "Hospitality",
    "Government Administration",
    "Non-profit Organization Management",
)

TECHNOLOGIES: tuple[str, ...] = (
    "Salesforce",
    "HubSpot",
    "Marketo",
    "Pardot",
    "Segment",
    "Snowflake",
    "BigQuery",
    "Databricks",
    "AWS",
    "Google Cloud",
    "Azure",
    "Stripe",
    "Zendesk",
    "Intercom",
    "Slack",
    "Microsoft Teams",
    "Jira",
    "Confluence",
    "Okta",
    "Shopify",
    "WordPress",
    "React",
    "Kubernetes",
    "Datadog",
    "Twilio",
    "SendGrid",
    "Mailchimp",
    "Google Analytics",
    "Tableau",
    "Looker",
    "NetSuite",
    "SAP",
    "Workday",
    "Gong",
    "Outreach",
    "ZoomInfo",
    "6sense",
    "Drift",
    "Cloudflare",
    "GitHub",
)

TAGS: tuple[str, ...] = (
    "customer",
    "prospect",
    "partner",
    "vip",
    "newsletter",
    "webinar-2024",
    "webinar-2025",
    "event-lead",
    "abm-tier-1",
    "abm-tier-2",
    "abm-tier-3",
    "churn-risk",
    "enterprise",
    "mid-market",
    "smb",
    "trial",
    "referral",
    "champion",
    "decision-maker",
    "do-not-call",
)

DEPARTMENTS: tuple[str, ...] = (
    "Sales",
    "Marketing",
    "Engineering",
    "Finance",
    "Operations",
    "Human Resources",
    "IT",
    "Product",
    "Customer Success",
    "Legal",
)

# department -> (c-level titles, individual contributor role)
_DEPARTMENT_ROLES: dict[str, tuple[tuple[str, ...], str]] = {
    "Sales": (("Chief Revenue Officer", "Chief Sales Officer"), "Account Executive"),
    "Marketing": (("Chief Marketing Officer", "CMO"), "Marketing Specialist"),
    "Engineering": (("Chief Technology Officer", "CTO"), "Software Engineer"),
    "Finance": (("Chief Financial Officer", "CFO"), "Financial Analyst"),
    "Operations": (("Chief Operating Officer", "COO"), "Operations Analyst"),
    "Human Resources": (("Chief People Officer", "Chief Human Resources Officer"), "Recruiter"),
    "IT": (("Chief Information Officer", "CIO"), "Systems Administrator"),
    "Product": (("Chief Product Officer", "CPO"), "Product Analyst"),
    "Customer Success": (
        ("Chief Customer Officer", "Chief Experience Officer"),
        "Support Specialist",
    ),
    "Legal": (("General Counsel", "Chief Legal Officer"), "Paralegal"),
}

SENIORITIES: tuple[str, ...] = (
    "c_level",
    "vp",
    "director",
    "manager",
    "senior",
    "entry",
    "other",
)
SENIORITY_WEIGHTS: tuple[int, ...] = (3, 6, 12, 20, 22, 30, 7)


def _titles(department: str, seniority: str) -> tuple[str, ...]:
    chiefs, role = _DEPARTMENT_ROLES[department]
    match seniority:
        case "c_level":
            return chiefs
        case "vp":
            return (f"VP of {department}", f"Vice President, {department}", f"SVP {department}")
        case "director":
            return (
                f"Director of {department}",
                f"{department} Director",
                f"Senior Director, {department}",
            )
        case "manager":
            return (f"{department} Manager", f"{department} Team Lead")
        case "senior":
            return (f"Senior {role}", f"Lead {role}")
        case "entry":
            return (role, f"Junior {role}", f"Associate {role}")
        case _:
            return (f"{department} Consultant", f"{department} Advisor", f"{department} Intern")


# (department, seniority) -> job titles; every bucket holds at least two, so a title can be
# changed without changing what it says about department or seniority.
TITLES: dict[tuple[str, str], tuple[str, ...]] = {
    (d, s): _titles(d, s) for d in DEPARTMENTS for s in SENIORITIES
}

FREEMAIL_DOMAINS: tuple[str, ...] = (
    "gmail.com",
    "outlook.com",
    "yahoo.com",
    "hotmail.com",
    "icloud.com",
    "proton.me",
    "gmx.de",
    "web.de",
)

STREET_NAMES: tuple[str, ...] = (
    "Main Street",
    "Market Street",
    "Oak Avenue",
    "Park Avenue",
    "High Street",
    "King Street",
    "Church Road",
    "Station Road",
    "Mill Lane",
    "Harbor Drive",
    "Innovation Way",
    "Commerce Boulevard",
    "Bahnhofstraße",
    "Rue de Rivoli",
    "Calle Mayor",
    "Queen Street",
)


@dataclass(frozen=True, slots=True)
class City:
    """A place with what a valid local landline number there looks like.

    ``postal_code`` is a pattern: ``#`` is a digit, ``@`` an upper-case letter.
    A landline is ``+<calling code><landline_prefix><landline_digits random digits>``.
    """

    name: str
    region: str | None
    country: str
    timezone: str
    postal_code: str
    landline_prefix: str
    landline_digits: int
    weight: int


CITIES: tuple[City, ...] = (
    City("New York", "New York", "US", "America/New_York", "100##", "212", 7, 14),
    City("San Francisco", "California", "US", "America/Los_Angeles", "941##", "415", 7, 10),
    City("Palo Alto", "California", "US", "America/Los_Angeles", "943##", "650", 7, 5),
    City("Boston", "Massachusetts", "US", "America/New_York", "021##", "617", 7, 6),
    City("Chicago", "Illinois", "US", "America/Chicago", "606##", "312", 7, 6),
    City("Austin", "Texas", "US", "America/Chicago", "787##", "512", 7, 5),
    City("Seattle", "Washington", "US", "America/Los_Angeles", "981##", "206", 7, 5),
    City("Los Angeles", "California", "US", "America/Los_Angeles", "900##", "213", 7, 5),
    City("Denver", "Colorado", "US", "America/Denver", "802##", "303", 7, 3),
    City("Atlanta", "Georgia", "US", "America/New_York", "303##", "404", 7, 3),
    City("Miami", "Florida", "US", "America/New_York", "331##", "305", 7, 2),
    City("Dallas", "Texas", "US", "America/Chicago", "752##", "214", 7, 3),
    City("Toronto", "Ontario", "CA", "America/Toronto", "M5V #@#", "416", 7, 3),
    City("Vancouver", "British Columbia", "CA", "America/Vancouver", "V6B #@#", "604", 7, 1),
    City("Montreal", "Quebec", "CA", "America/Toronto", "H2Y #@#", "514", 7, 1),
    City("London", "England", "GB", "Europe/London", "EC#A #@@", "207", 7, 6),
    City("London", "England", "GB", "Europe/London", "W1# #@@", "203", 7, 2),
    City("Manchester", "England", "GB", "Europe/London", "M# #@@", "1612", 6, 1),
    City("Edinburgh", "Scotland", "GB", "Europe/London", "EH# #@@", "1314", 6, 1),
    City("Berlin", "Berlin", "DE", "Europe/Berlin", "10###", "30", 8, 4),
    City("Munich", "Bavaria", "DE", "Europe/Berlin", "80###", "89", 8, 3),
    City("Hamburg", "Hamburg", "DE", "Europe/Berlin", "20###", "40", 8, 1),
    City("Paris", "Île-de-France", "FR", "Europe/Paris", "750##", "142", 6, 4),
    City("Lyon", "Auvergne-Rhône-Alpes", "FR", "Europe/Paris", "6900#", "472", 6, 1),
    City("Sydney", "New South Wales", "AU", "Australia/Sydney", "2###", "29", 7, 3),
    City("Melbourne", "Victoria", "AU", "Australia/Melbourne", "3###", "39", 7, 1),
    City("Amsterdam", "North Holland", "NL", "Europe/Amsterdam", "10## @@", "20", 7, 2),
    City("Rotterdam", "South Holland", "NL", "Europe/Amsterdam", "30## @@", "10", 7, 1),
    City("Madrid", "Madrid", "ES", "Europe/Madrid", "280##", "91", 7, 2),
    City("Barcelona", "Catalonia", "ES", "Europe/Madrid", "080##", "93", 7, 1),
    City("Dublin", "County Dublin", "IE", "Europe/Dublin", "D0# @###", "1", 7, 2),
    City("Bengaluru", "Karnataka", "IN", "Asia/Kolkata", "560###", "802", 7, 2),
    City("Mumbai", "Maharashtra", "IN", "Asia/Kolkata", "400###", "224", 7, 2),
    City("Tokyo", "Tokyo", "JP", "Asia/Tokyo", "1##-####", "35", 7, 2),
    City("Osaka", "Osaka", "JP", "Asia/Tokyo", "5##-####", "6", 8, 1),
    City("São Paulo", "São Paulo", "BR", "America/Sao_Paulo", "0####-###", "113", 7, 2),
    City("Rio de Janeiro", "Rio de Janeiro", "BR", "America/Sao_Paulo", "2####-###", "213", 7, 1),
    City("Singapore", None, "SG", "Asia/Singapore", "0#####", "62", 6, 1),
    City("Stockholm", "Stockholm", "SE", "Europe/Stockholm", "1## ##", "8", 7, 1),
)

CALLING_CODES: dict[str, str] = {
    "US": "1",
    "CA": "1",
    "GB": "44",
    "DE": "49",
    "FR": "33",
    "AU": "61",
    "NL": "31",
    "ES": "34",
    "IE": "353",
    "IN": "91",
    "JP": "81",
    "BR": "55",
    "SG": "65",
    "SE": "46",
}

# The North American Numbering Plan: the first digit after the area code is 2-9.
NANP_COUNTRIES: frozenset[str] = frozenset({"US", "CA"})

# country -> (mobile prefix, random digits after it); NANP mobiles use the city's area code.
MOBILE_PLANS: dict[str, tuple[tuple[str, int], ...]] = {
    "GB": (("7400", 6), ("7412", 6), ("7723", 6), ("7802", 6)),
    "DE": (("151", 8), ("160", 8), ("170", 8)),
    "FR": (("612", 6), ("661", 6), ("698", 6)),
    "AU": (("412", 6), ("423", 6), ("438", 6)),
    "NL": (("61", 7), ("62", 7), ("65", 7)),
    "ES": (("6", 8),),
    "IE": (("85", 7), ("87", 7)),
    "IN": (("98", 8), ("99", 8)),
    "JP": (("80", 8), ("901", 7), ("903", 7)),
    "BR": (("119", 8), ("219", 8)),
    "SG": (("81", 6), ("91", 6), ("96", 6)),
    "SE": (("70", 7),),
}

# Digit dialled before a national number inside the country ("030 ..." in Germany).
TRUNK_PREFIXES: dict[str, str] = {
    "GB": "0",
    "DE": "0",
    "FR": "0",
    "AU": "0",
    "NL": "0",
    "IE": "0",
    "IN": "0",
    "JP": "0",
    "BR": "0",
    "SE": "0",
    "ES": "",
    "SG": "",
    "US": "",
    "CA": "",
}

# How people spell countries in spreadsheets; all of them name the alpha-2 key.
COUNTRY_SPELLINGS: dict[str, tuple[str, ...]] = {
    "US": ("USA", "United States", "us", "U.S.", "United States of America", "US", "usa"),
    "CA": ("Canada", "CA", "canada"),
    "GB": ("U.K.", "United Kingdom", "UK", "GB", "uk", "Great Britain"),
    "DE": ("Deutschland", "Germany", "DE", "germany"),
    "FR": ("France", "FR", "france"),
    "AU": ("Australia", "AU", "australia"),
    "NL": ("Netherlands", "The Netherlands", "NL"),
    "ES": ("Spain", "España", "ES"),
    "IE": ("Ireland", "IE", "ireland"),
    "IN": ("India", "IN", "india"),
    "JP": ("Japan", "JP"),
    "BR": ("Brazil", "Brasil", "BR"),
    "SG": ("Singapore", "SG"),
    "SE": ("Sweden", "Sverige", "SE"),
}

COUNTRY_NAMES: dict[str, str] = {
    "US": "United States",
    "CA": "Canada",
    "GB": "United Kingdom",
    "DE": "Germany",
    "FR": "France",
    "AU": "Australia",
    "NL": "Netherlands",
    "ES": "Spain",
    "IE": "Ireland",
    "IN": "India",
    "JP": "Japan",
    "BR": "Brazil",
    "SG": "Singapore",
    "SE": "Sweden",
}


def ascii_key(name: str) -> str:
    """Lower-case ASCII letters of a name, for e-mail local parts: "O'Brien" -> "obrien"."""
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    return "".join(ch for ch in folded.lower() if ch.isalnum())


def _unique_by_key(names: tuple[str, ...]) -> tuple[str, ...]:
    seen: set[str] = set()
    kept = []
    for name in names:
        key = ascii_key(name)
        if key and key not in seen:
            seen.add(key)
            kept.append(name)
    return tuple(kept)


# E-mail local parts are built from these keys; distinct keys keep generated e-mails unique.
FIRST_NAMES: tuple[str, ...] = _unique_by_key(_FIRST_NAMES)
LAST_NAMES: tuple[str, ...] = _unique_by_key(_LAST_NAMES)
FIRST_KEYS: tuple[str, ...] = tuple(ascii_key(n) for n in FIRST_NAMES)
LAST_KEYS: tuple[str, ...] = tuple(ascii_key(n) for n in LAST_NAMES)

# Company e-mail conventions: every one is injective on (first key, last key) because keys
# are letters only and each pattern keeps a separator between them.
EMAIL_PATTERNS: tuple[str, ...] = (
    "{f}.{l}",
    "{f}.{l}",
    "{f}.{l}",
    "{f}.{l}",
    "{f}.{l}",
    "{f}.{l}",
    "{f}_{l}",
    "{f}-{l}",
    "{l}.{f}",
    "{f}.{l}",
)


def company_combinations() -> int:
    """How many distinct (first word, second word, TLD) company identities exist."""
    return len(COMPANY_FIRST_WORDS) * len(COMPANY_SECOND_WORDS) * len(TLDS)


@dataclass(frozen=True, slots=True)
class Company:
    """A company identity derived from its index: name words, domain and legal suffix."""

    first_word: str
    second_word: str
    domain: str
    tld_index: int

    def name(self, suffix_choice: int, separator: str = " ", comma: bool = False) -> str:
        """ "Blue River Inc"; "BlueRiver" with separator ""; "Blue River, Inc" with comma."""
        suffixes = TLDS[self.tld_index][1]
        suffix = suffixes[suffix_choice % len(suffixes)]
        second = self.second_word if not separator else self.second_word.capitalize()
        base = f"{self.first_word.capitalize()}{separator}{second}"
        if not suffix:
            return base
        return f"{base}, {suffix}" if comma else f"{base} {suffix}"


def company_for_index(index: int, seed: int, domain_separator: str = "") -> Company:
    """The ``index``-th company of a seeded, duplicate-free sequence.

    An affine permutation ``(a * i + b) mod M`` over all word/TLD combinations spreads
    consecutive indexes over the vocabulary without remembering which were used; past M
    companies a numeric suffix keeps domains unique ("blueriver2.com").
    """
    total = company_combinations()
    multiplier = _coprime_multiplier(total, seed)
    position = (multiplier * index + seed * 7919) % total
    round_number = index // total
    position, tld_index = divmod(position, len(TLDS))
    first_index, second_index = divmod(position, len(COMPANY_SECOND_WORDS))
    first, second = COMPANY_FIRST_WORDS[first_index], COMPANY_SECOND_WORDS[second_index]
    label = f"{first}{domain_separator}{second}{round_number + 1 if round_number else ''}"
    return Company(first, second, f"{label}.{TLDS[tld_index][0]}", tld_index)


def _coprime_multiplier(total: int, seed: int) -> int:
    candidate = 104_729 + 2 * (seed % 1000)
    while gcd(candidate, total) != 1:
        candidate += 1
    return candidate


def check_vocabulary() -> None:
    """Fail fast if an edit to the word lists would make generated domains collide."""
    labels = {a + b for a in COMPANY_FIRST_WORDS for b in COMPANY_SECOND_WORDS}
    if len(labels) != len(COMPANY_FIRST_WORDS) * len(COMPANY_SECOND_WORDS):
        raise RuntimeError("company word lists produce the same domain label twice")
    if any(not key.isalpha() for key in FIRST_KEYS + LAST_KEYS):
        raise RuntimeError("name keys must be letters only (e-mail patterns rely on it)")
    # Generated rows go to COPY's text format unescaped.
    texts = [
        *FIRST_NAMES,
        *LAST_NAMES,
        *INDUSTRIES,
        *TECHNOLOGIES,
        *TAGS,
        *STREET_NAMES,
        *(title for titles in TITLES.values() for title in titles),
        *(text for city in CITIES for text in (city.name, city.region or "", city.timezone)),
    ]
    if any(ch in text for text in texts for ch in '\t\n\r\\"'):
        raise RuntimeError("vocabulary must not hold tabs, newlines, backslashes or quotes")


def weighted_table(weights: tuple[int, ...] | list[int]) -> tuple[int, ...]:
    """Indexes repeated by weight: a uniform pick from the result is a weighted pick."""
    return tuple(index for index, weight in enumerate(weights) for _ in range(weight))


CITY_TABLE: tuple[int, ...] = weighted_table([city.weight for city in CITIES])
SENIORITY_TABLE: tuple[int, ...] = weighted_table(SENIORITY_WEIGHTS)

# The cities of each country, for companies whose TLD names a country.
CITIES_BY_COUNTRY: dict[str, tuple[int, ...]] = {
    country: tuple(i for i, city in enumerate(CITIES) if city.country == country)
    for country in CALLING_CODES
}
TLD_COUNTRIES: dict[str, str] = {
    "co.uk": "GB",
    "de": "DE",
    "fr": "FR",
    "com.au": "AU",
    "ca": "CA",
}


def landline(city: City, random: Callable[[], float]) -> str:
    """A valid E.164 landline number in ``city``."""
    if city.country in NANP_COUNTRIES:
        return f"+1{city.landline_prefix}{int(random() * 8) + 2}{int(random() * 1e6):06d}"
    digits = city.landline_digits
    number = int(random() * 10**digits)
    return f"+{CALLING_CODES[city.country]}{city.landline_prefix}{number:0{digits}d}"


def mobile(city: City, random: Callable[[], float]) -> str:
    """A valid E.164 mobile number of ``city``'s country (NANP: the city's area code)."""
    if city.country in NANP_COUNTRIES:
        return landline(city, random)
    plans = MOBILE_PLANS[city.country]
    prefix, digits = plans[int(random() * len(plans))]
    number = int(random() * 10**digits)
    return f"+{CALLING_CODES[city.country]}{prefix}{number:0{digits}d}"


def postal_code(pattern: str, random: Callable[[], float]) -> str:
    """Fill a postal-code pattern: ``#`` becomes a digit, ``@`` an upper-case letter."""
    out = []
    for ch in pattern:
        if ch == "#":
            out.append(chr(48 + int(random() * 10)))
        elif ch == "@":
            out.append(chr(65 + int(random() * 26)))
        else:
            out.append(ch)
    return "".join(out)


def name_key(name: str) -> str:
    """Lower-case name without punctuation or a trailing legal suffix: "Acme, Inc." -> "acme"."""
    words = "".join(ch if ch.isalnum() or ch.isspace() else " " for ch in name.lower()).split()
    while len(words) > 1 and words[-1] in LEGAL_SUFFIXES:
        words.pop()
    # "B.V." splits into "b v": drop the pieces too.
    while len(words) > 2 and words[-2] + words[-1] in LEGAL_SUFFIXES:
        del words[-2:]
    return " ".join(words)
