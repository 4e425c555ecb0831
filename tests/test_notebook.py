"""examples/notebook.ipynb runs headless (nbclient) and shows what it should; a broker cell
run twice fails clearly; a kernel restart or shutdown leaves no port listening."""

from __future__ import annotations

import importlib.util
import socket
from pathlib import Path
from typing import Any

import pytest

for _module in ("nbclient", "nbformat", "ipykernel"):
    pytest.importorskip(_module, reason=f"needs {_module} (pip install nbclient ipykernel)")

import nbclient  # noqa: E402
import nbformat  # noqa: E402
from jupyter_client.manager import start_new_kernel  # noqa: E402

NOTEBOOK = Path(__file__).resolve().parent.parent / "examples" / "notebook.ipynb"
CELL_TIMEOUT = 60
# Kernels take seconds to start, more on a loaded machine.
pytestmark = pytest.mark.timeout(180)


def execute(notebook: Any, allow_errors: bool = False) -> Any:
    client = nbclient.NotebookClient(
        notebook, timeout=CELL_TIMEOUT, kernel_name="python3", allow_errors=allow_errors
    )
    client.execute(cwd=str(NOTEBOOK.parent))
    return notebook


def outputs(cell: Any) -> tuple[str, str]:
    """The cell's plain text (streams and results) and its HTML."""
    text, page = [], []
    for output in cell.outputs:
        if output.output_type == "stream":
            text.append(output.text)
        data = output.get("data", {})
        text.append(data.get("text/plain", ""))
        page.append(data.get("text/html", ""))
    return "".join(text), "".join(page)


def is_listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except ConnectionRefusedError:
        return False
    return True


def test_notebook_runs_headless_and_shows_what_it_did() -> None:
    notebook = execute(nbformat.read(NOTEBOOK, as_version=4))
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    text, page = outputs(code[0])
    assert text.startswith("<ferromqtt.Broker mqtt://127.0.0.1:")
    assert "ferromqtt.Broker (running)" in page and "uptime" in page
    text, page = outputs(code[1])
    assert "state: connected" in text and "dashboard" in text
    assert "<table>" in page
    text, page = outputs(code[2])
    assert "received 400 readings" in text
    assert "<MQTTMessage topic=sensors/garage/temperature qos=1" in text
    text, _ = outputs(code[3])
    assert "clients: ['dashboard', 'sensor-hub']" in text
    assert "{'dashboard': {'sensors/+/temperature': 1}}" in text
    assert "400 message(s) in, 400 out" in text
    text, _ = outputs(code[4])
    assert "400 messages routed" in text
    images = [o for o in code[4].outputs if "image/png" in o.get("data", {})]
    if importlib.util.find_spec("matplotlib") is not None:
        assert len(images) == 1
    else:
        assert "matplotlib is not installed" in text and not images
    text, _ = outputs(code[5])
    assert "the asyncio client received 10 readings" in text
    assert "'celsius': 22.9, 'n': 9}" in text
    text, _ = outputs(code[6])
    assert text == "<ferromqtt.Broker stopped>"


def test_rerunning_a_broker_cell_on_the_same_port_fails_clearly() -> None:
    new_cell = nbformat.v4.new_code_cell
    start_broker = "broker = Broker(port=port).start()"
    notebook = nbformat.v4.new_notebook(
        cells=[
            new_cell(
                "import socket\n"
                "from ferromqtt.broker import Broker\n"
                "probe = socket.socket()\n"
                "probe.bind(('127.0.0.1', 0))\n"
                "port = probe.getsockname()[1]\n"
                "probe.close()"
            ),
            new_cell(start_broker),
            new_cell(start_broker),  # the same cell, run again
            new_cell("print(broker.is_running, broker.port == port)\nbroker.stop()"),
        ]
    )
    execute(notebook, allow_errors=True)
    assert [o.output_type for o in notebook.cells[1].outputs] == []
    (error,) = notebook.cells[2].outputs
    assert error.output_type == "error"
    assert error.ename == "OSError"
    assert "Address already in use" in error.evalue
    assert "still listening there" in error.evalue and "port=0" in error.evalue
    assert outputs(notebook.cells[3])[0] == "True True\n"


def run(client: Any, code: str) -> str:
    printed: list[str] = []

    def hook(message: dict[str, Any]) -> None:
        if message["msg_type"] == "stream":
            printed.append(message["content"]["text"])

    reply = client.execute_interactive(code, timeout=CELL_TIMEOUT, output_hook=hook)
    assert reply["content"]["status"] == "ok", reply["content"]
    return "".join(printed)


def test_kernel_restart_and_shutdown_leave_nothing_listening() -> None:
    manager, client = start_new_kernel(kernel_name="python3")
    try:
        start = "from ferromqtt.broker import Broker\nbroker = Broker(port={}).start()\n"
        port = int(run(client, start.format(0) + "print(broker.port)"))
        assert is_listening(port)
        manager.restart_kernel(now=False)
        client.wait_for_ready(timeout=CELL_TIMEOUT)
        assert not is_listening(port)
        # The restarted kernel can take the same port again.
        assert run(client, start.format(port) + "print(broker.is_running)") == "True\n"
        assert is_listening(port)
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=False)
    assert not is_listening(port)
