"""The fixed words of the toy world: materials, object kinds, jobs, colours and name syllables.

Everything here is kind-level common sense that a seed does not change (a kettle is iron
and boils water); the seed decides the instances (who lives where, owns what, what things
cost). All four domains draw their nouns from these lists, so they share one vocabulary and
differ in format and skill only.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Property:
    """A yes/no property of a material, with the phrasings the domains use for it.

    Evaluation phrasings are paraphrases that training never produces but that keep its
    words and relation ("would float" for "floats"): a model that learnt only this world
    cannot read a frame far from anything it saw (such frames scored at chance). What the
    evaluation withholds is the *answer*: held-out (kind, property) pairs are never stated.
    ``goal`` is None where no natural "to do X, use Y" goal exists.
    """

    name: str
    fact: str  # "floats on water": completes "<material> ..." / "a <kind> ..."
    negation: str  # "sinks in water"
    question: str  # training phrasing: "Which of these floats on water?"
    unseen_question: str  # evaluation-only phrasing of the same question
    goal: str | None = None  # PIQA-style goal that needs the property, training phrasing
    unseen_goal: str | None = None


PROPERTIES: tuple[Property, ...] = (
    Property("floats", "floats on water", "sinks in water",
             "Which of these floats on water?", "Which of these would float on water?",
             "To make a toy boat that floats, use", "If you want to make a toy boat that floats, use"),
    Property("fragile", "breaks when it is dropped", "does not break when it is dropped",
             "Which of these breaks when it is dropped?", "Which of these would break if it were dropped?"),
    Property("burns", "catches fire easily", "does not catch fire",
             "Which of these catches fire easily?", "Which of these would catch fire easily?",
             "To start a fire in the stove, use", "If you want to start a fire in the stove, use"),
    Property("heavy", "is heavy to carry", "is light to carry",
             "Which of these is heavy to carry?", "Which of these would be heavy to carry?",
             "To hold a door open in the wind, put against it", "If you want to hold a door open in the wind, put against it"),
    Property("soft", "feels soft", "feels hard",
             "Which of these feels soft?", "Which of these would feel soft?",
             "To make a bed more comfortable, add", "If you want to make a bed more comfortable, add"),
    Property("warm", "keeps you warm", "does not keep you warm",
             "Which of these keeps you warm?", "Which of these would keep you warm?",
             "To stay warm in winter, wear", "If you want to stay warm in winter, wear"),
    Property("rusts", "rusts in the rain", "does not rust",
             "Which of these rusts in the rain?", "Which of these would rust in the rain?"),
    Property("clear", "lets light through", "blocks the light",
             "Which of these lets light through?", "Which of these would let light through?",
             "To let sunlight into a dark room, use", "If you want to let sunlight into a dark room, use"),
    Property("hot", "gets hot near a fire", "stays cool near a fire",
             "Which of these gets hot near a fire?", "Which of these would get hot near a fire?",
             "To cook food over a fire, use", "If you want to cook food over a fire, use"),
    Property("watertight", "holds water", "lets water through",
             "Which of these holds water?", "Which of these would hold water?",
             "To carry water from the well, use", "If you want to carry water from the well, use"),
)

# material -> the properties it has (every property it lacks is stated with the negation).
# "heavy" is not a material property: it follows from a kind's weight (HEAVY_GRAMS).
MATERIALS: dict[str, frozenset[str]] = {
    "wood": frozenset({"floats", "burns"}),
    "iron": frozenset({"rusts", "hot", "watertight"}),
    "glass": frozenset({"fragile", "clear", "watertight"}),
    "clay": frozenset({"fragile", "watertight"}),
    "wool": frozenset({"soft", "warm", "burns"}),
    "paper": frozenset({"burns", "floats"}),
    "stone": frozenset(),
    "leather": frozenset({"warm", "watertight"}),
    "copper": frozenset({"hot", "watertight"}),
    "straw": frozenset({"floats", "burns", "soft"}),
}


@dataclass(frozen=True)
class Kind:
    """A kind of object: what it is made of, what it is for, where it is kept, its typical size."""

    name: str
    plural: str
    material: str
    use: str  # "boil water": completes "a kettle is used to ..."
    room: str
    weight: int  # grams, typical
    price: int  # coins, typical


KINDS: tuple[Kind, ...] = (
    Kind("kettle", "kettles", "iron", "boil water", "kitchen", 1200, 14),
    Kind("spoon", "spoons", "wood", "stir soup", "kitchen", 40, 2),
    Kind("cup", "cups", "clay", "drink tea", "kitchen", 300, 3),
    Kind("jar", "jars", "glass", "keep honey", "pantry", 400, 5),
    Kind("pot", "pots", "clay", "cook stew", "kitchen", 1500, 8),
    Kind("knife", "knives", "iron", "cut bread", "kitchen", 150, 6),
    Kind("pan", "pans", "copper", "fry eggs", "kitchen", 900, 16),
    Kind("bottle", "bottles", "glass", "carry milk", "pantry", 500, 4),
    Kind("bowl", "bowls", "wood", "serve porridge", "kitchen", 250, 3),
    Kind("basket", "baskets", "straw", "carry apples", "pantry", 500, 4),
    Kind("blanket", "blankets", "wool", "keep warm at night", "bedroom", 1800, 20),
    Kind("scarf", "scarves", "wool", "keep the neck warm", "hallway", 200, 9),
    Kind("pillow", "pillows", "wool", "rest the head", "bedroom", 600, 7),
    Kind("sock", "socks", "wool", "keep the feet warm", "bedroom", 80, 2),
    Kind("mirror", "mirrors", "glass", "see a face", "bedroom", 3000, 35),
    Kind("window", "windows", "glass", "let in the light", "hallway", 6000, 40),
    Kind("lantern", "lanterns", "glass", "light the path", "shed", 700, 12),
    Kind("book", "books", "paper", "read stories", "study", 600, 12),
    Kind("letter", "letters", "paper", "send news", "study", 10, 1),
    Kind("map", "maps", "paper", "find the way", "study", 50, 7),
    Kind("kite", "kites", "paper", "fly in the wind", "garden", 150, 5),
    Kind("boot", "boots", "leather", "walk in the mud", "hallway", 900, 25),
    Kind("saddle", "saddles", "leather", "ride a horse", "stable", 7000, 60),
    Kind("belt", "belts", "leather", "hold up trousers", "bedroom", 200, 10),
    Kind("glove", "gloves", "leather", "protect the hands", "hallway", 150, 8),
    Kind("bucket", "buckets", "iron", "carry water", "shed", 2000, 9),
    Kind("hammer", "hammers", "iron", "drive nails", "shed", 800, 11),
    Kind("nail", "nails", "iron", "join boards", "shed", 5, 1),
    Kind("axe", "axes", "iron", "chop wood", "shed", 2000, 18),
    Kind("chair", "chairs", "wood", "sit at the table", "kitchen", 5000, 22),
    Kind("table", "tables", "wood", "eat dinner", "kitchen", 20000, 45),
    Kind("ladder", "ladders", "wood", "reach the roof", "shed", 8000, 30),
    Kind("bell", "bells", "copper", "call people to dinner", "hallway", 1100, 15),
    Kind("coin", "coins", "copper", "pay at the market", "study", 5, 1),
    Kind("statue", "statues", "stone", "decorate the garden", "garden", 40000, 80),
    Kind("bench", "benches", "stone", "rest in the garden", "garden", 60000, 50),
    Kind("millstone", "millstones", "stone", "grind flour", "mill", 90000, 95),
    Kind("hat", "hats", "straw", "keep the sun off", "hallway", 100, 5),
    Kind("broom", "brooms", "straw", "sweep the floor", "hallway", 700, 3),
    Kind("mat", "mats", "straw", "wipe the feet", "hallway", 400, 2),
)

ROOMS = ("kitchen", "pantry", "bedroom", "hallway", "shed", "study", "garden", "stable", "mill")

JOBS = ("baker", "smith", "weaver", "potter", "farmer", "fisher", "carpenter", "glassblower",
        "cobbler", "miller", "teacher", "healer", "merchant", "shepherd")

# job -> the kind they make or use most, so stories and problems stay plausible.
JOB_GOODS = {
    "baker": "knife", "smith": "hammer", "weaver": "scarf", "potter": "pot", "farmer": "basket",
    "fisher": "bucket", "carpenter": "chair", "glassblower": "jar", "cobbler": "boot",
    "miller": "millstone", "teacher": "book", "healer": "bottle", "merchant": "coin", "shepherd": "blanket",
}

COLOURS = ("red", "blue", "green", "yellow", "white", "black", "grey", "brown")
PETS = ("cat", "dog", "goat", "parrot", "rabbit", "horse", "hen", "pig")
REGIONS = ("north", "south", "east", "west", "hills", "coast")
PLACE_KINDS = ("town", "village", "port", "city")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
                "ten", "eleven", "twelve")

# Syllables for invented names; combined by the seed, never copied lists of real names.
ONSETS = ("b", "br", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "th", "st", "dr")
VOWELS = ("a", "e", "i", "o", "u", "ai", "ou", "ei")
CODAS = ("", "", "n", "r", "l", "s", "m", "th", "k")
PLACE_ENDINGS = ("holm", "by", "ford", "wick", "stead", "mere", "dale", "ton")


def article(word: str) -> str:
    """'a' or 'an' before ``word``."""
    return "an" if word[0] in "aeiou" else "a"


def with_article(phrase: str) -> str:
    return f"{article(phrase)} {phrase}"


def number_word(n: int) -> str:
    return NUMBER_WORDS[n] if 0 <= n < len(NUMBER_WORDS) else str(n)


def plural_verb(phrase: str) -> str:
    """'floats on water' -> 'float on water'; 'does not rust' -> 'do not rust'; 'is heavy' -> 'are heavy'."""
    first, _, rest = phrase.partition(" ")
    plural = {"does": "do", "is": "are", "catches": "catch"}.get(first, first[:-1] if first.endswith("s") else first)
    return f"{plural} {rest}".strip()


HEAVY_GRAMS = 2000


def has_property(kind: Kind, prop: str) -> bool:
    if prop == "heavy":
        return kind.weight >= HEAVY_GRAMS
    return prop in MATERIALS[kind.material]


KIND_BY_NAME = {k.name: k for k in KINDS}
PROPERTY_BY_NAME = {p.name: p for p in PROPERTIES}
