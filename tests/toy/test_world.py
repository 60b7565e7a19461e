from calray.toy import lexicon as lx
from calray.toy.corpus import DOMAINS, documents
from calray.toy.world import build_world


def test_same_seed_same_world_and_documents():
    a, b = build_world(3), build_world(3)
    assert a.people == b.people and a.places == b.places
    assert build_world(4).people != a.people
    for domain in DOMAINS:
        assert documents(domain, "train", 20, seed=3) == documents(domain, "train", 20, seed=3)
        assert documents(domain, "train", 20, seed=3) != documents(domain, "train", 20, seed=4)
        assert documents(domain, "train", 20, seed=3, stream=1) != documents(domain, "train", 20, seed=3)


def test_world_is_consistent():
    w = build_world(0)
    names = {p.name for p in w.people}
    assert len(names) == len(w.people)
    for p in w.people:
        assert p.friend in names and p.friend != p.name
        assert w.place(p.home).name == p.home
        assert all(k in lx.KIND_BY_NAME and c >= 1 for k, c in p.owns)
    for place in w.places:
        assert place.known_for in lx.KIND_BY_NAME


def test_domains_share_the_world_vocabulary(train_docs):
    """Every domain mentions the world's people and things: they differ in format, not in nouns."""
    w = build_world(0)
    people = {p.name for p in w.people}
    kinds = {k.plural for k in lx.KINDS} | {k.name for k in lx.KINDS}
    for domain in ("general", "math", "code"):
        text = " ".join(train_docs[domain])
        words = set(text.replace('"', " ").replace("'", " ").replace(".", " ").replace(",", " ").split())
        assert len(words & people) > 50, domain
        assert len(words & kinds) > 30, domain
    assert len(set(" ".join(train_docs["commonsense"]).replace(".", " ").split()) & kinds) > 30


def test_domains_differ_in_format(train_docs):
    share = {
        d: sum(1 for doc in docs if marker in doc) / len(docs)
        for d, docs in train_docs.items()
        for marker in [{"general": ". ", "commonsense": "Answer:", "math": "####", "code": "def "}[d]]
    }
    assert share["math"] > 0.6 and share["code"] > 0.8 and share["commonsense"] > 0.4
    assert not any("####" in doc for doc in train_docs["general"] + train_docs["code"])
    assert not any("def " in doc for doc in train_docs["general"] + train_docs["math"])
