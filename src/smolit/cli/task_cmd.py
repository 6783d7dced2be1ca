"""``smolit task submit|show|list``: tasks on a running server."""

from __future__ import annotations

import json as json_module
import time
from enum import StrEnum
from typing import Annotated, Any

import typer

from smolit.cli import output
from smolit.cli.client import ApiClient, ClientError, call
from smolit.cli.options import JsonOption, TokenOption, UrlOption

app = typer.Typer(help="Submit tasks and read their results.", no_args_is_help=True)

WAIT_SLICE = 30.0
FINISHED = ("succeeded", "failed", "timed_out", "cancelled")


class Priority(StrEnum):
    low = "low"
    normal = "normal"
    high = "high"


def print_task(task: dict[str, Any]) -> None:
    output.line(f"task    {task['id']}")
    output.line(f"status  {task['status']}")
    route = task.get("route") or {}
    if task.get("out_of_scope"):
        output.line("agent   (none: out of scope)")
    elif task.get("agent"):
        output.line(
            f"agent   {task['agent']}  (confidence {route.get('confidence', 0):.2f}, "
            f"model {task.get('model') or '-'})"
        )
    if route.get("reason"):
        output.line(f"why     {route['reason']}")
    scores = route.get("scores") or []
    if scores:
        ranked = ", ".join(f"{s['agent']} {s['score']:.2f}" for s in scores[:5])
        output.line(f"scores  {ranked}")
    if task.get("answer"):
        output.line("")
        output.line(task["answer"])
    cited: dict[tuple[str, str], list[str]] = {}
    for source in task.get("sources") or []:
        cited.setdefault((source["title"], source["source"]), []).append(str(source["index"]))
    for (title, origin), indexes in cited.items():
        output.line(f"  [{','.join(indexes)}] {title} ({origin})")
    calls = task.get("tool_calls") or []
    if calls:
        output.line("")
        output.line(f"tool calls ({len(calls)})")
    for entry in calls:
        print_tool_call(entry)
    if task.get("error"):
        output.line(f"error   {task['error']}")


def print_tool_call(entry: dict[str, Any]) -> None:
    """One line per call (name, arguments, time, error), then its result excerpt."""
    arguments = json_module.dumps(entry.get("arguments") or {}, ensure_ascii=False)
    flag = "  ERROR" if entry.get("is_error") else ""
    seconds = entry.get("duration_s", 0)
    output.line(f"  {entry['seq']}. {entry['name']}({arguments})  {seconds:.3f} s{flag}")
    if entry.get("note"):
        output.line(f"     note: {entry['note']}")
    excerpt = " ".join(str(entry.get("excerpt") or "").split())
    if excerpt:
        output.line(f"     -> {excerpt[:200]}")


@app.command("submit")
def submit(
    text: Annotated[str, typer.Argument(help="the task in natural language")],
    wait: Annotated[bool, typer.Option("--wait", help="wait for the result")] = False,
    timeout: Annotated[float, typer.Option("--timeout", min=1, help="seconds to wait")] = 600,
    priority: Annotated[
        Priority, typer.Option("--priority", help="queue order: low, normal or high")
    ] = Priority.normal,
    task_timeout: Annotated[
        float | None,
        typer.Option("--task-timeout", min=0.001, help="seconds the task may run"),
    ] = None,
    idempotency_key: Annotated[
        str | None,
        typer.Option("--idempotency-key", help="repeat a submit safely: same key, same task"),
    ] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    json: JsonOption = False,
) -> None:
    """Submit a task; with --wait, print its result when it is done."""
    body: dict[str, Any] = {"text": text, "priority": priority.value}
    if task_timeout is not None:
        body["timeout"] = task_timeout
    if idempotency_key is not None:
        body["idempotency_key"] = idempotency_key
    with ApiClient(url, token, timeout=WAIT_SLICE + 30) as client:
        task = client.request("POST", "/tasks", json=body)
        deadline = time.monotonic() + timeout
        while wait and task["status"] not in FINISHED:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ClientError(f"task {task['id']} is not finished after {timeout:.0f} s")
            task = client.request(
                "GET", f"/tasks/{task['id']}", params={"wait": min(WAIT_SLICE, remaining)}
            )
    if json:
        output.emit_json(task)
    elif wait:
        print_task(task)
    else:
        output.line(task["id"])
    if task["status"] in ("failed", "timed_out", "cancelled"):
        raise typer.Exit(1)


@app.command("show")
def show(
    task_id: Annotated[str, typer.Argument(help="the task id")],
    wait: Annotated[float, typer.Option("--wait", min=0, max=300, help="seconds to wait")] = 0,
    url: UrlOption = None,
    token: TokenOption = None,
    json: JsonOption = False,
) -> None:
    """Show a task: status, chosen agent and why, answer, sources, tool calls."""
    task = call(url, token, "GET", f"/tasks/{task_id}", timeout=wait + 30, params={"wait": wait})
    if json:
        output.emit_json(task)
    else:
        print_task(task)


@app.command("feedback")
def feedback(
    task_id: Annotated[str, typer.Argument(help="the task id")],
    success: Annotated[
        bool | None, typer.Option("--success/--failure", help="did the answer solve it?")
    ] = None,
    rating: Annotated[int | None, typer.Option("--rating", min=1, max=5, help="1 to 5")] = None,
    comment: Annotated[str | None, typer.Option("--comment", help="free text")] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    json: JsonOption = False,
) -> None:
    """Tell the router how a task turned out; it learns from it at once."""
    body: dict[str, Any] = {"success": success, "rating": rating, "comment": comment}
    result = call(url, token, "POST", f"/tasks/{task_id}/feedback", json=body)
    if json:
        output.emit_json(result)
    else:
        output.line(f"feedback on {result['agent']} recorded (value {result['value']:.2f})")


@app.command("list")
def list_tasks(
    limit: Annotated[int, typer.Option("--limit", min=1, max=500)] = 20,
    status: Annotated[str | None, typer.Option("--status", help="only this state")] = None,
    agent: Annotated[str | None, typer.Option("--agent", help="only this agent's")] = None,
    priority: Annotated[Priority | None, typer.Option("--priority")] = None,
    before: Annotated[
        str | None, typer.Option("--before", help="the next-page cursor a listing printed")
    ] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    json: JsonOption = False,
) -> None:
    """List your most recent tasks, a page at a time."""
    params: dict[str, Any] = {"limit": limit}
    for key, value in (("status", status), ("agent", agent), ("before", before)):
        if value:
            params[key] = value
    if priority is not None:
        params["priority"] = priority.value
    page = call(url, token, "GET", "/tasks", params=params)
    if json:
        output.emit_json(page)
        return
    output.table(
        ["id", "status", "priority", "agent", "text"],
        [
            [t["id"], t["status"], t["priority"], t["agent"] or "-", t["text"][:60]]
            for t in page["tasks"]
        ],
    )
    if page.get("next"):
        output.line(f"more: --before {page['next']}")


@app.command("cancel")
def cancel(
    task_id: Annotated[str, typer.Argument(help="the task id")],
    url: UrlOption = None,
    token: TokenOption = None,
    json: JsonOption = False,
) -> None:
    """Cancel a queued or running task."""
    task = call(url, token, "DELETE", f"/tasks/{task_id}")
    if json:
        output.emit_json(task)
    elif task["status"] == "cancelled":
        output.line(f"cancelled {task_id}")
    else:
        output.line(f"cancel requested for {task_id} (status {task['status']})")
