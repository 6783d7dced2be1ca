import pytest

from smolit.config import ModelDefinition
from smolit.models import ChatMessage, GenerationParams
from smolit.testing import FakeModel, FakeModelBackend, ManualClock

PARAMS = GenerationParams(max_new_tokens=50)


def ask(model: FakeModel, text: str, params: GenerationParams = PARAMS) -> str:
    return model.generate([ChatMessage("user", text)], params).text


def test_scripted_responses_come_in_order() -> None:
    model = FakeModel(responses=["one", "two"])
    assert [ask(model, "a"), ask(model, "b")] == ["one", "two"]


def test_enqueue_appends_after_the_script() -> None:
    model = FakeModel(responses=["one"])
    model.enqueue("two")
    assert [ask(model, "a"), ask(model, "b")] == ["one", "two"]
    assert model.pending == 0


def test_echoes_last_user_message_when_script_is_empty() -> None:
    messages = [
        ChatMessage("user", "first"),
        ChatMessage("assistant", "x"),
        ChatMessage("user", "hi"),
    ]
    assert FakeModel().generate(messages, PARAMS).text == "[fake] hi"


def test_default_reply_when_script_is_empty() -> None:
    assert ask(FakeModel(default="always"), "anything") == "always"


def test_records_every_call() -> None:
    model = FakeModel()
    ask(model, "a")
    ask(model, "b")
    assert [call[-1].content for call in model.calls] == ["a", "b"]


def test_fail_with_raises_on_every_call() -> None:
    model = FakeModel(fail_with=RuntimeError("down"))
    for _ in range(2):
        with pytest.raises(RuntimeError, match="down"):
            ask(model, "a")


def test_enqueued_exception_is_raised_once() -> None:
    model = FakeModel()
    model.enqueue(TimeoutError("slow"))
    with pytest.raises(TimeoutError):
        ask(model, "a")
    assert ask(model, "b") == "[fake] b"


def test_max_new_tokens_truncates_words_and_reports_length() -> None:
    result = FakeModel(default="a b c d").generate(
        [ChatMessage("user", "q")], GenerationParams(max_new_tokens=2)
    )
    assert (result.text, result.completion_tokens, result.finish_reason) == ("a b", 2, "length")


def test_result_names_the_model() -> None:
    result = FakeModel(name="echo").generate([ChatMessage("user", "q")], PARAMS)
    assert result.model == "echo"


def test_entry_point_form_replies_with_definition_model() -> None:
    backend = FakeModelBackend("canned", ModelDefinition(backend="fake", model="canned reply"))
    assert ask(backend, "q") == "canned reply"


def test_scripted_exception_in_responses_is_raised_in_turn() -> None:
    model = FakeModel(responses=[ValueError("first fails"), "second works"])
    with pytest.raises(ValueError, match="first fails"):
        ask(model, "a")
    assert ask(model, "b") == "second works"


def stream(model: FakeModel, text: str = "q", params: GenerationParams = PARAMS) -> list[str]:
    return [event.delta for event in model.stream([ChatMessage("user", text)], params)]


def test_stream_yields_one_delta_per_word_then_the_result() -> None:
    events = list(FakeModel(default="one two  three").stream([ChatMessage("user", "q")], PARAMS))
    assert [e.delta for e in events] == ["one ", "two  ", "three", ""]
    final = events[-1].result
    assert final is not None and final.text == "one two  three" and final.completion_tokens == 3


def test_stream_deltas_concatenate_to_the_generated_text() -> None:
    model = FakeModel(default="a\nmulti-line  answer ")
    assert "".join(stream(model)) == ask(model, "q")


def test_stream_truncates_at_max_new_tokens() -> None:
    events = list(
        FakeModel(default="a b c d").stream(
            [ChatMessage("user", "q")], GenerationParams(max_new_tokens=2)
        )
    )
    final = events[-1].result
    assert [e.delta for e in events] == ["a ", "b", ""]
    assert final is not None and final.finish_reason == "length"


def test_stream_and_generate_report_first_token_time() -> None:
    model = FakeModel(default="x y")
    streamed = list(model.stream([ChatMessage("user", "q")], PARAMS))[-1].result
    generated = model.generate([ChatMessage("user", "q")], PARAMS)
    assert streamed is not None and streamed.first_token_seconds is not None
    assert generated.first_token_seconds is not None


def test_stream_raises_the_scripted_exception() -> None:
    model = FakeModel(responses=[TimeoutError("slow")])
    with pytest.raises(TimeoutError):
        stream(model)


def test_closing_a_stream_early_is_counted() -> None:
    model = FakeModel(default="a b c")
    events = model.stream([ChatMessage("user", "q")], PARAMS)
    next(events)
    events.close()
    assert model.streams_closed_early == 1
    stream(model)
    assert model.streams_closed_early == 1


def test_stop_string_cuts_the_reply() -> None:
    model = FakeModel(default="Paris.\nQ: and Rome?")
    result = model.generate([ChatMessage("user", "q")], GenerationParams(stop=("\nQ:",)))
    assert (result.text, result.finish_reason) == ("Paris.", "stop")


def test_memory_mb_is_reported_in_bytes() -> None:
    assert FakeModel(memory_mb=1.5).memory_bytes() == 1_572_864
    assert FakeModel().memory_bytes() == 0


def test_sized_backend_estimates_and_holds_its_memory() -> None:
    big = FakeModelBackend.sized(300)
    definition = ModelDefinition(backend="fake")
    assert big.estimate_memory_bytes(definition) == 300 * 1024 * 1024
    assert big("big", definition).memory_bytes() == 300 * 1024 * 1024
    assert FakeModelBackend.estimate_memory_bytes(definition) == 0


def timed(clock: ManualClock, reply: str = "a b c") -> FakeModel:
    return FakeModel(default=reply, delay=0.5, token_delay=0.25, clock=clock.now, sleep=clock.sleep)


def test_delays_advance_an_injected_clock_instead_of_waiting() -> None:
    clock = ManualClock()
    result = ask(timed(clock), "q")
    assert (result, clock.slept, clock.now()) == ("a b c", [0.5, 0.25, 0.25], 1.0)


def test_generate_reports_times_by_the_injected_clock() -> None:
    result = timed(ManualClock()).generate([ChatMessage("user", "q")], PARAMS)
    assert (result.first_token_seconds, result.seconds) == (0.5, 1.0)


def test_stream_reports_times_by_the_injected_clock() -> None:
    final = list(timed(ManualClock()).stream([ChatMessage("user", "q")], PARAMS))[-1].result
    assert final is not None and (final.first_token_seconds, final.seconds) == (0.5, 1.0)


def test_manual_clock_refuses_to_go_back() -> None:
    with pytest.raises(ValueError, match="does not go back"):
        ManualClock().advance(-1)
