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

# --- judge, probe, steering ---
from retraction_nb.judge import HTTPChat, JudgeHTTPError, LLMJudge, as_item, make_judge, read_labels, serve_chat
from retraction_nb.probe import last_token_states, load_directions, utqa_statements
from retraction_nb.steering import steering_vectors

def test_labels_must_be_booleans(tmp_path):
    f = tmp_path/"labels.jsonl"
    f.write_text('{"id": 0, "source": "x", "family": "f", "question": "q", "answer": "a", "continuation": "c", '
                 '"correct": true, "retracted": "no", "acknowledged": false}\n')
    with pytest.raises(ValueError, match="line 1: field 'retracted' must be true or false"): read_labels(f)

def test_judge_item_needs_continuation():
    with pytest.raises(KeyError, match="needs question, answer"): as_item({"question": "q", "name": "a"})

def test_unknown_judge():
    with pytest.raises(ValueError, match="unknown judge"): make_judge("gpt-oracle")
    with pytest.raises(ValueError, match="needs the judge model"): make_judge("llm:smollm2-135m")

def test_http_judge_wrong_route_is_clear():
    "A server without the chat-completions route answers 404; the judge says so instead of retrying forever."
    class Echo:
        name = "echo"
        def complete(self, conversations, max_new_tokens=64, progress=False): return ["Output: True"] * len(conversations)
    server = serve_chat(Echo())
    try:
        judge = LLMJudge(HTTPChat(f"http://127.0.0.1:{server.server_port}/v2", retries=0))
        with pytest.raises(JudgeHTTPError, match="HTTP 404"): judge([{"question": "q", "answer": "a", "continuation": "c"}])
    finally: server.shutdown()

def test_http_judge_nobody_listening():
    import socket
    with socket.socket() as s: s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]
    judge = LLMJudge(HTTPChat(f"http://127.0.0.1:{port}/v1", retries=1, backoff=0.01, timeout=2))
    with pytest.raises(JudgeHTTPError, match="no answer after 2 attempts"):
        judge([{"question": "q", "answer": "a", "continuation": "c"}], progress=False)

def test_missing_utqa_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="truthfulness_train.jsonl"): utqa_statements(tmp_path)

def test_missing_directions(tmp_path):
    with pytest.raises(FileNotFoundError, match="run the probe stage first"): load_directions(tmp_path/"d.safetensors")

def test_one_token_prompts_read():
    "A one-token prompt is a prefill, not a generation step: its state is captured like any other."
    model, tok = tiny_model()
    assert last_token_states(model, tok, ["a", "a b"], progress=False).shape == (3, 2, 32)

def test_steering_layers_out_of_range():
    with pytest.raises(ValueError, match=r"layers \[30\] out of range"): steering_vectors(torch.zeros(30, 4), [29, 30], 1.0)

def test_patching_bad_input():
    from contextlib import nullcontext
    from retraction_nb.patching import patch_attention, patch_values, prompt_spans
    model, _ = tiny_model(layers=2)
    with pytest.raises(ValueError, match=r"heads \[\(0, 9\)\] out of range"):
        with patch_attention(model, nullcontext, {0: [9]}): pass
    with pytest.raises(IndexError, match="out of range for 2 layers"):
        with patch_values(model, nullcontext, layers=[4]): pass
    assert model.config._attn_implementation != "retraction_patch"   # restored after the error
    with pytest.raises(ValueError, match="does not end with the answer"): prompt_spans("Q? A: Paris", "Q?", "Lyon")

def test_sft_bad_input():
    from retraction_nb.sft import sft_examples, train_lora
    model, tok = tiny_model()
    with pytest.raises(ValueError, match="missing"): sft_examples(tok, [{"question": "a", "name": "b"}])
    with pytest.raises(ValueError, match="at least one example"): train_lora(model, tok, [])

def test_pipeline_bad_input(tmp_path):
    from retraction_nb.models import Study
    from retraction_nb.pipeline import main, run_stage
    with pytest.raises(ValueError, match="unknown stage 'train'"): run_stage("train", Study(run=tmp_path))
    with pytest.raises(ValueError, match="scale must be one of"): run_stage("judge", Study(run=tmp_path), scale="huge")
    with pytest.raises(SystemExit, match="no such folder"): main(["judge", "--data", str(tmp_path/"nowhere")])
    with pytest.raises(SystemExit): main(["train"])
