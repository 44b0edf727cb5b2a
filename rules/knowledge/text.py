"""The grammar of medication text: one normal form shared by the vocabulary builder and the runtime."""

import re
import unicodedata
from functools import lru_cache

# Combination separators become one token, so "oxycodone/APAP", "oxycodone-APAP",
# "oxycodone w/ APAP" and "oxycodone and APAP" all read the same.
SEP = "+"
_SEPARATOR_WORDS = {"and", "with", "w", "&", "plus", "y", "con"}

# Salt abbreviations of dispensing systems and the salt each stands for: "HYDROC BIT" is hydrocodone bitartrate.
SALT_ABBREVIATIONS = {
    "sul": "sulfate",
    "sulf": "sulfate",
    "so4": "sulfate",
    "bit": "bitartrate",
    "bitart": "bitartrate",
    "tart": "tartrate",
    "hcl": "hydrochloride",
    "hbr": "hydrobromide",
    "cit": "citrate",
    "phos": "phosphate",
    "po4": "phosphate",
    "succ": "succinate",
    "fum": "fumarate",
    "val": "valerate",
}

# Salt, ester and hydrate words carry no identity for interaction checking:
# oxycodone hydrochloride and oxycodone are the same opioid.
SALT_WORDS = frozenset(
    """
    hydrochloride hcl hydrobromide hbr bitartrate tartrate bitart sulfate sulphate sulf so4
    phosphate phos citrate napsylate mesylate maleate acetate besylate fumarate succinate
    hyclate monohydrate dihydrate trihydrate hydrate anhydrous sodium potassium calcium
    magnesium polistirex tannate terephthalate myristate chloride bromide lactate gluconate
    dihydrochloride pamoate embonate valerate propionate dipropionate furoate xinafoate
    malate l-malate camsylate tosylate disodium nitrate oxalate stearate hemihydrate
    sesquihydrate monosodium free base tromethamine medoxomil dimesylate bisulfate benzoate
    trifenatate etexilate propanediol axetil pivoxil besilate esylate mesilate hemifumarate
    monohydrochloride proxetil cipionate cypionate enanthate decanoate undecanoate palmitate
    dipotassium tetrahydrate edisylate hydroiodide meglumine olamine benzathine carbonate
    hydrobromide bromide mononitrate dinitrate methylbromide
    """.split()
) | frozenset(SALT_ABBREVIATIONS)

# Words about the product rather than the substance: form, route, release, packaging.
FORM_WORDS = frozenset(
    """
    tablet tablets tab tabs tb capsule capsules cap caps cp film films patch patches
    solution soln sol syrup syr elixir elix suspension susp liquid liq injection inj injectable
    oral po sublingual sl subl buccal nasal spray sprays transdermal td system topical cream
    gel ointment lozenge lozenges troche suppository supp rectal odt orally disintegrating
    dissolving chewable chew effervescent er xr sr ir cr la dr ec xl cd ext extended release
    rel immediate delayed controlled sustained modified abuse deterrent ad hr hour hours day
    per each kit pack dose pen vial ampule ampul syringe prefilled cartridge auto injector
    intramuscular im iv intravenous subcutaneous subq sc intrathecal epidural implant
    concentrate concentrated drops drop powder granules packet dispersible soluble
    strip pump metered inhaler inhalation aerosol mouthwash rinse wafer pellet unit units
    generic brand brandname compounded compound compounding capsul medication med meds
    mg mcg ug g gm gram grams ml l meq mmol iu percent pct hrs h q12h q24h qd daily
    disp dispense tabl tablt ea tube bottle oz fl actuat actuation actuations liposomal
    """.split()
)

# Words of a sig or an order line that never name a substance; dropped so that a whole order line
# ("oxycodone 5 mg tablet, take 1 by mouth every 6 hours as needed") reads as its substances.
NOISE_WORDS = frozenset(
    """
    take takes taking by mouth every as needed prn for the a an of to in on use apply then before after
    if times time qhs qam qpm bid tid qid hs q tsp tbsp teaspoon teaspoonful place under tongue directed
    orally via up max maximum or
    """.split()
)

# Words of a sig, a dispensing label or a problem-list line that never name a substance. Unlike the noise words
# they stay in the text a name is looked up from (a brand may contain one); a word left over after the lookup
# that is one of these is accounted for as part of the sig, not reported as a word the service did not understand.
SIG_WORDS = frozenset(
    """
    give given inject injected dissolve dissolved swallow chew chewed instill administer put sig sigs tk tab tabs
    once twice thrice x daily nightly night nights morning mornings evening evenings noon bedtime bed sleep
    sleeping at am pm hs qn qod qw qwk qweek qmonth week weeks weekly month months monthly days year years
    start starting started then increase increased increasing decrease decreased titrate titrating titration
    continue continued until thereafter after while when needed with without food meal meals water juice milk
    empty stomach swallowed whole do not crush split cut half halves quarter quarters break divide divided
    pieces piece equal shake well refrigerate keep store discard measure measured dropper dropperful syringe
    oral orally mouth under tongue between cheek gum skin affected area one two three four five six seven eight
    nine ten first second third next last each other alternate day hour hours minute minutes hrs hr
    qty quantity refill refills count ct supply supplies dispensed label labeled printed bottle box blister
    carton pkg package packaged packet unit dose doses ud bulk ea
    low high strength new old home current currently continue hold held stop stopped pause paused
    note notes see instructions directions direction prescribed prescriber provider pharmacy pharmacist
    rx otc patient pt pts self own supplied supply brought outside
    pain sleep insomnia anxiety cough nausea vomiting constipation diarrhea fever headache migraine itching
    inflammation spasm spasms muscle fibromyalgia
    ac ante cibum acid crm oint lotion wash shampoo foam enema neb nebulizer mdi hfa conc mr sa pr ds es
    ivp ivpb pb premix bag vag vaginal otic ophth ophthalmic dosepak dosepack carpule lpm nc mwf tiw biw
    bottle btl bx jar container vial vials syringes
    """.split()
)

# Numbered brands: "Tylenol #3", "Tylenol No. 3", "Tylenol w/ codeine no 4".
_NUMBERED = re.compile(r"(?:#|\bno\.?\s*|\bnumber\s+)\s*(\d{1,2})\b")
_NUMBER = re.compile(r"^\d+(?:\.\d+)?$")
_TOKEN = re.compile(r"#\d{1,2}|\d+(?:\.\d+)?|[a-z][a-z0-9'.]*|[/+&\-]")
_BRACKETS = re.compile(r"[\(\[\{]([^\)\]\}]*)[\)\]\}]")
# Characters that are never part of a name: quotes, bullets, trademark and registration signs. They go before
# Unicode normalisation, which would turn a glued sign into letters ("Percocet\u2122" into "PercocetTM").
_DROP = dict.fromkeys(map(ord, "\"'`\u00ae\u2122\u2120\u00a9\u24c7*"), None)

_CONTROL_CATEGORIES = {"Cc", "Cf", "Co", "Cs", "Cn"}


def has_control_characters(text: str) -> bool:
    """True when text holds control, format (bidi marks) or unassigned characters; tab and newline pass."""
    if text.isascii() and text.isprintable():
        return False  # the common case, decided in C
    return any(unicodedata.category(ch) in _CONTROL_CATEGORIES and ch not in "\t\n\r" for ch in text)


@lru_cache(maxsize=8192)
def fold(text: str) -> str:
    """Unicode-normalise, lower-case and strip marks that never distinguish medications."""
    text = unicodedata.normalize("NFKC", text.translate(_DROP)).translate(_DROP).lower()
    return text.replace("\u00b5", "u").replace("\u03bc", "u")


def split_brackets(text: str) -> tuple[str, list[str]]:
    """Return (text without bracketed parts, [bracketed parts]) — Epic writes brands in brackets."""
    inner = [part.strip() for part in _BRACKETS.findall(text) if part.strip()]
    return _BRACKETS.sub(" ", text), inner


def tokens(text: str) -> list[str]:
    """Tokenise folded text into words, '#N' brand numbers and the separator token."""
    text = _NUMBERED.sub(lambda match: " #" + match.group(1) + " ", text)
    out = []
    for raw in _TOKEN.findall(text):
        token = raw.strip(".'")
        if not token:
            continue
        if token in {"/", "-", "+", "&"} or token in _SEPARATOR_WORDS:
            token = SEP
        out.append(token)
    return out


def _bare_brand_number(toks, index):
    """A bare 1–2 digit number right after a word and before nothing numeric: 'Tylenol 3'."""
    token = toks[index]
    if not (token.isdigit() and len(token) <= 2 and index > 0):
        return False
    previous = toks[index - 1]
    if previous == SEP or _NUMBER.match(previous) or previous.startswith("#"):
        return False
    following = toks[index + 1] if index + 1 < len(toks) else None
    return following is None or not (_NUMBER.match(following) or following == SEP or following in FORM_WORDS)


def content_tokens(text: str, drop_salts: bool = True) -> list[str]:
    """The identity-bearing tokens of a name: no numbers, units, forms, release words or (optionally) salts."""
    toks = tokens(fold(text))
    out = []
    for index, token in enumerate(toks):
        if _bare_brand_number(toks, index):
            out.append("#" + token)
        elif (
            _NUMBER.match(token) or token in FORM_WORDS or token in NOISE_WORDS or (drop_salts and token in SALT_WORDS)
        ):
            continue
        elif token == SEP and (not out or out[-1] == SEP):
            continue
        else:
            out.append(token)
    while out and out[-1] == SEP:
        out.pop()
    return out


def name_key(text: str, drop_salts: bool = True) -> str:
    """The normal form under which a name is stored and looked up."""
    return " ".join(content_tokens(text, drop_salts))


def phrase_key(text: str) -> str:
    """A plain phrase key (letters and digits only) for condition names and other free phrases."""
    return " ".join(re.findall(r"[a-z0-9]+", fold(text)))
