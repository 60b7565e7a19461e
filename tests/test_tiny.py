import torch

from calray.tiny import TINY_CONFIGS, VOCAB_SIZE, tiny_model, tiny_tokenizer


def test_tiny_tokenizer_round_trips_bytes():
    tok = tiny_tokenizer()
    text = "héllo, wörld\n\tdef f(x): return x"
    ids = tok(text)["input_ids"]
    assert ids[0] == tok.bos_token_id
    assert ids[1:] == list(text.encode())
    assert tok.decode(ids, skip_special_tokens=True) == text
    assert len(tok) == VOCAB_SIZE


def test_every_tiny_model_runs_deterministically():
    ids = torch.tensor([tiny_tokenizer()("a tiny input")["input_ids"]])
    for arch in TINY_CONFIGS:
        a, b = tiny_model(arch, seed=1), tiny_model(arch, seed=1)
        la, lb = a(ids).logits, b(ids).logits
        assert la.shape == (1, ids.shape[1], VOCAB_SIZE)
        assert torch.equal(la, lb), arch
