"Bad input gets a clear error, not a stack trace from deep inside transformers."
import pytest, torch
from retraction_nb.models import (MODELS, check_gguf, generate, generate_ids, load_model, model_folder, render_chat,
                                  tiny_model, scale)
from retraction_nb.hooks import add_vectors, capture, positions_index

def test_unknown_model_lists_known(tmp_path):
    with pytest.raises(ValueError, match="Known models: smollm2-135m"): load_model("no-such-model", cache=tmp_path)

def test_missing_gguf(tmp_path):
    with pytest.raises(FileNotFoundError, match="GGUF file not found"): load_model(str(tmp_path/"gone.gguf"), cache=tmp_path)

def test_not_a_gguf(tmp_path):
    bad = tmp_path/"model.gguf"; bad.write_text("hello")
    with pytest.raises(ValueError, match="not a GGUF file"): load_model(str(bad), cache=tmp_path)

def test_truncated_gguf(tmp_path):
    "A file that starts like a GGUF but is cut short is refused by its checksum, or by transformers with the path named."
    from retraction_nb.models import registry_gguf
    real = registry_gguf("smollm2-135m")
    cut = tmp_path/"cut.gguf"; cut.write_bytes(real.read_bytes()[:4096])
    with pytest.raises(ValueError, match="sha256"): check_gguf(cut, MODELS["smollm2-135m"].sha256)
    with pytest.raises(ValueError, match="could not read .*cut.gguf"): model_folder(str(cut), cache=tmp_path)

def test_empty_prompts():
    model, tok = tiny_model()
    assert generate(model, tok, []) == [] and generate_ids(model, tok, []) == []

def test_bad_batch_size():
    model, tok = tiny_model()
    with pytest.raises(ValueError, match="batch_size"): generate(model, tok, ["hi"], batch_size=0)

def test_empty_chat():
    _, tok = tiny_model()
    with pytest.raises(ValueError, match="at least one message"): render_chat(tok, [])

def test_bad_scale(monkeypatch):
    monkeypatch.setenv("RETRACTION_NB_SCALE", "huge")
    with pytest.raises(ValueError, match="RETRACTION_NB_SCALE"): scale()

def test_bad_positions_and_layers():
    model, tok = tiny_model(layers=2)
    ids = tok(["Name a city"], return_tensors="pt")
    with pytest.raises(IndexError, match="out of range"):
        with capture(model, positions=50): model(**ids)
    with pytest.raises(IndexError, match="out of range for 2 layers"):
        with capture(model, layers=[5]): pass
    with pytest.raises(ValueError, match="do not fit"): positions_index([[1]], batch=2, seq=4)
    before = sum(len(m._forward_hooks) for m in model.modules())
    with pytest.raises(IndexError):
        with add_vectors(model, {0: torch.zeros(32)}, positions=99): model(**ids)
    assert sum(len(m._forward_hooks) for m in model.modules()) == before

# --- testbed input -------------------------------------------------------------------------------------------------
import json
from retraction_nb.testbed import (EmptyTestbedError, Family, build_testbed, celebrity, load_testbed,
                                   read_continuations, read_jsonl, wikidata)

def test_malformed_jsonl_names_file_and_line(tmp_path):
    p = tmp_path/"pool.jsonl"; p.write_text('{"question": "a"}\n\n{"question": \n')
    with pytest.raises(ValueError, match=r"pool.jsonl, line 3: malformed JSON"): read_jsonl(p)

def test_missing_field_named(tmp_path):
    (tmp_path/"wikidata").mkdir()
    good = {"question": "Name a poet who was born in Rome, Italy.", "answers": ["X Y"], "profession": "poet",
            "city": "Rome", "country": "Italy"}
    (tmp_path/"wikidata"/"wikidata_train_free.jsonl").write_text(json.dumps(good) + "\n" + json.dumps({"question": "q"}) + "\n")
    (tmp_path/"wikidata"/"wikidata_test_free.jsonl").write_text("")
    with pytest.raises(ValueError, match=r"wikidata_train_free.jsonl, line 2: missing field 'answers'"): wikidata(tmp_path)

def test_empty_pool(tmp_path):
    (tmp_path/"celebrity").mkdir()
    for split in ("train", "test"): (tmp_path/"celebrity"/f"celebrity_{split}_free.jsonl").write_text("")
    with pytest.raises(ValueError, match="celebrity pool .* is empty"): celebrity(tmp_path)

def test_missing_pool_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="celebrity_train_free.jsonl"): celebrity(tmp_path)

def test_continuation_must_end_with_answer(tmp_path):
    p = tmp_path/"c.jsonl"
    rec = {"messages": [{"role": "user", "content": "q"}], "name": "A", "result": True, "question": "q"}
    p.write_text(json.dumps(rec) + "\n")
    with pytest.raises(ValueError, match="record 1: 'messages' must end with the assistant's answer"): read_continuations(p)

def test_family_never_answered(tmp_path):
    model, tok = tiny_model()
    fam = Family("silent", [{"id": "s/0", "question": "Say nothing."}], extract=lambda r, q: None,
                 is_correct=lambda a, q: False, verify=lambda a, q: [], read=lambda *a: None, samples=2)
    with pytest.raises(EmptyTestbedError, match="silent: no answer of the model survived"):
        build_testbed(model, tok, fam, tmp_path, max_new_tokens=2)
    with pytest.raises(FileNotFoundError, match="No testbed"): load_testbed(tmp_path)

def test_bad_balance(tmp_path):
    model, tok = tiny_model()
    fam = Family("x", [{"id": "x/0", "question": "q"}], lambda r, q: None, lambda a, q: False, lambda a, q: [], lambda *a: None)
    with pytest.raises(ValueError, match="balance="): build_testbed(model, tok, fam, tmp_path, balance="both")
