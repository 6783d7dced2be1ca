import pytest

from smolit.config import ModelDefinition
from smolit.models import ChatMessage, GenerationParams
from smolit.testing import FakeModel, FakeModelBackend

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
    with pytest.raises(ValueError):
        ask(model, "a")
    assert ask(model, "b") == "second works"
